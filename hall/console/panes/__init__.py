"""The console's six panes, one per file: overview, alarms, devices, lockers, events, shift."""

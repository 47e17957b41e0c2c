"""hall: on-site operations for a government service hall (政务服务大厅)."""

"""hall/console"""

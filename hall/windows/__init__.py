"""hall/windows"""

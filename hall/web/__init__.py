"""hall/web"""

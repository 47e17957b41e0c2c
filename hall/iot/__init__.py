"""hall/iot"""

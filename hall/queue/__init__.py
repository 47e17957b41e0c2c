"""hall/queue"""

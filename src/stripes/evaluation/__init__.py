"""stripes.evaluation"""

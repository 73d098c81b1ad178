"""placeholder"""
class LBFGS:  # noqa
    pass

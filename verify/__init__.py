"""verify: the referee between numeric and exact symbolic gradients."""

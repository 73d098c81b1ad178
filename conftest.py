"""Collection set-up: the optional-framework adapters (and sg.distributed, which needs the
dask extra) are doctested only when installed."""
import importlib.util

collect_ignore = [path for path, module in (("verify/torch.py", "torch"),
                                            ("verify/jax.py", "jax"),
                                            ("symgrad/distributed", "distributed"))
                  if importlib.util.find_spec(module) is None]

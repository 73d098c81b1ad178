"""Collection set-up: the optional-framework adapters are doctested only when installed."""
import importlib.util

collect_ignore = [path for path, module in (("verify/torch.py", "torch"),
                                            ("verify/jax.py", "jax"))
                  if importlib.util.find_spec(module) is None]

"""The pytest plugin: the symgrad_verify fixture in a user's test file (run by pytester)."""
import pytest

pytest_plugins = ["pytester"]


def test_fixture_passes_good_and_fails_wrong_gradients(pytester):
    pytest.importorskip("torch", reason="torch not installed (pip install symgrad[torch])")
    pytester.makepyfile(test_user="""
        import torch

        class Bad(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return torch.nn.functional.softplus(x)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * torch.where(x < -20, torch.zeros_like(x), torch.sigmoid(x))

        def test_good(symgrad_verify):
            symgrad_verify(lambda x: torch.logsumexp(x, dim=0), torch.randn(3))

        def test_bad(symgrad_verify):
            symgrad_verify(Bad.apply, torch.randn(3))
    """)
    result = pytester.runpytest_subprocess("-q")  # loaded by its pytest11 entry point
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*disagree with the exact ones*", "*extreme point*"])


def test_profile_option_loads_a_hypothesis_profile(pytester):
    pytester.makepyfile(test_prof="""
        from hypothesis import settings
        def test_profile():
            assert settings.default.max_examples == 1000
    """)
    result = pytester.runpytest_subprocess(
                                           "--symgrad-profile", "thorough", "-q")
    result.assert_outcomes(passed=1)

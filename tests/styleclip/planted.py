"""Constants shared by the StyleCLIP tests (imported by name: test folders are not packages)."""

PLANTED = {"alpha": 5, "beta": 40, "gamma": 100}  # words -> flat S channels of tiny-test
SIZE = 64  # tiny-test renders 32 or 64 px

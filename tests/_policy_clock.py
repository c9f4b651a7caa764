"""A fake clock for `throughput.autotune`, shared by the tests that rank candidates."""

import keras


class PolicyClock:
    """Advances by the current global policy's cost at every reading.

    `autotune` reads the clock before and after each timed `fit`, with the
    candidate's policy set globally, so a candidate's timed fit lasts exactly
    `seconds[policy]`, whatever the machine is doing.
    """

    def __init__(self, seconds):
        self.seconds, self.now = seconds, 0.0

    def __call__(self):
        self.now += self.seconds[keras.config.dtype_policy().name]
        return self.now

"""Gates: the points where a person (or the policy) decides whether a run may go on."""

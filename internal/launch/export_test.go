package launch

// Hooks for the external tests.

// RunTaskErrorForTest explains a failed RunTask with the launch's facts.
var RunTaskErrorForTest = runTaskError

// LaunchFactsForTest builds the facts RunTask errors name.
type LaunchFactsForTest = launchFacts

package awsecs

// Hooks for the external tests of the files launch.go, taskdef.go,
// credentials.go and budget.go.

var (
	BackoffDelay        = backoffDelay
	DescribedJSON       = describedJSON
	RunTaskErrorForTest = runTaskError
)

// Fingerprint exposes the client cache key.
func (c Credentials) Fingerprint() string { return c.fingerprint() }

// LaunchFactsForTest builds the facts RunTask errors name.
type LaunchFactsForTest = launchFacts

// BudgetOf returns the budget the clients wait for.
func BudgetOf(c *Clients) *Budget { return c.budget }

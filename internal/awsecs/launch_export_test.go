package awsecs

// Hooks for the external tests of the files launch.go, taskdef.go,
// credentials.go and budget.go.

var (
	BackoffDelay        = backoffDelay
	DescribedJSON       = describedJSON
	RunTaskErrorForTest = runTaskError
)

// AWSErrorForTest explains a failed call of op made once.
func AWSErrorForTest(op string, err error) *LaunchError { return awsError(op, err, 1) }

// LaunchFactsForTest builds the facts RunTask errors name.
type LaunchFactsForTest = launchFacts

// BudgetOf returns the budget the clients wait for.
func BudgetOf(c *Clients) *Budget { return c.budget }

// Package ecsjob is the pure pipeline from a work pool's base job template
// to the ECS requests of one flow run: merge the deployment's and the flow
// run's job variables, check them against the pool's variable schema,
// render the template (internal/jobtemplate), read the job configuration
// (internal/jobconfig), build the RegisterTaskDefinition and RunTask
// requests (internal/ecsrequest) and check them against ECS's rules, all
// problems reported at once. It also holds ecsworker's default base job
// template. Prepare is where to start.
package ecsjob

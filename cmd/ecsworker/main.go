// Command ecsworker runs Prefect flow runs as AWS ECS tasks: a drop-in for
// the prefect-aws ECS worker, in one static binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ecsworker/ecsworker/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

package clikit

// AsTerminal makes the CLI take any standard input for a terminal, for
// the tests that run a command through cli.Main.
var AsTerminal = asTerminal

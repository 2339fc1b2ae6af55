package ecsjob

import (
	"fmt"
	"strconv"
	"strings"
)

// fargateSizes lists, for each Fargate CPU size (units), the memory sizes
// (MiB) that Fargate accepts with it: from, to and step. Any other pair is
// refused by RegisterTaskDefinition or RunTask, which users of the Python
// worker only learn when a flow run crashes.
var fargateSizes = []struct{ cpu, from, to, step int }{
	{256, 512, 2048, 512}, // 512, 1024, 2048: the 1536 in between is refused, see fargateMemoryOK
	{512, 1024, 4096, 1024},
	{1024, 2048, 8192, 1024},
	{2048, 4096, 16384, 1024},
	{4096, 8192, 30720, 1024},
	{8192, 16384, 61440, 4096},
	{16384, 32768, 122880, 8192},
}

func fargateCPUs() string {
	var s []string
	for _, f := range fargateSizes {
		s = append(s, strconv.Itoa(f.cpu))
	}
	return strings.Join(s, ", ")
}

// fargateMemoryChoices lists the memory sizes allowed with a CPU size, or
// nil when the CPU size itself is not a Fargate size.
func fargateMemoryChoices(cpu int) []int {
	for _, f := range fargateSizes {
		if f.cpu != cpu {
			continue
		}
		var out []int
		for m := f.from; m <= f.to; m += f.step {
			if cpu == 256 && m == 1536 {
				continue
			}
			out = append(out, m)
		}
		return out
	}
	return nil
}

func describeMemoryChoices(cpu int) string {
	choices := fargateMemoryChoices(cpu)
	if len(choices) <= 4 {
		var s []string
		for _, m := range choices {
			s = append(s, strconv.Itoa(m))
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%d to %d in steps of %d", choices[0], choices[len(choices)-1], choices[1]-choices[0])
}

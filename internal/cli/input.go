package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// inputs reads the files named on the command line; "-" is standard
// input, which can be read only once.
type inputs struct {
	stdin     io.Reader
	stdinUsed string // the flag that took standard input
}

func (in *inputs) read(flag, path string) ([]byte, error) {
	if path == "-" {
		if in.stdinUsed != "" {
			return nil, invalid("--%s and --%s cannot both read standard input (-)", in.stdinUsed, flag)
		}
		in.stdinUsed = flag
		b, err := io.ReadAll(in.stdin)
		if err != nil {
			return nil, invalid("--%s: read standard input: %v", flag, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, invalid("--%s: %v", flag, err)
	}
	return b, nil
}

// object reads a JSON object from the file a flag names.
func (in *inputs) object(flag, path string) (*jsonv.Object, error) {
	if path == "" {
		return nil, nil
	}
	b, err := in.read(flag, path)
	if err != nil {
		return nil, err
	}
	o, err := jsonv.DecodeObject(b)
	if err != nil {
		return nil, invalid("--%s %s: %v", flag, path, err)
	}
	return o, nil
}

// inlineOrFile reads a flag that takes JSON inline or @FILE (@- for
// standard input), the convention of the AWS CLI's file:// and curl's @.
func (in *inputs) inlineOrFile(flag, value string) (*jsonv.Object, error) {
	if value == "" {
		return nil, nil
	}
	data := []byte(value)
	source := "the value"
	if strings.HasPrefix(value, "@") {
		var err error
		if data, err = in.read(flag, value[1:]); err != nil {
			return nil, err
		}
		source = value[1:]
	}
	o, err := jsonv.DecodeObject(data)
	if err != nil {
		return nil, invalid("--%s: %s is not a JSON object: %v (give JSON inline, or @FILE to read a file)", flag, source, err)
	}
	return o, nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := jsonv.MarshalIndent(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(b)
	return err
}

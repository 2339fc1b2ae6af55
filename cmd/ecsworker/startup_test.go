package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// compileCalls are the calls that build something costly (a regular
// expression, a template, a JSON schema) when made at package level. Go
// runs the initialisation of every package linked into the binary before
// main, whatever the command, so such a call is paid by every start of the
// worker, which is timed (issue 13: at most 10 ms of package
// initialisation). Build these on first use instead: lazyregexp.New for
// regular expressions, sync.OnceValue for the rest.
var compileCalls = []string{
	"MustCompile", "MustCompilePOSIX", "Compile", "CompilePOSIX", // regexp, jsonschema.Compiler
	"Must", "Parse", "ParseFS", "ParseFiles", "ParseGlob", // text/template, html/template
}

// initTimeCompiles lists, as "file:line: call", the compileCalls that src
// makes while its package is initialised: in the initialisers of
// package-level variables and in init functions. Function literals are
// skipped, since defining one runs nothing.
func initTimeCompiles(fset *token.FileSet, f *ast.File) []string {
	var found []string
	visit := func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && slices.Contains(compileCalls, sel.Sel.Name) {
					p := fset.Position(n.Pos())
					found = append(found, p.Filename+":"+strconv.Itoa(p.Line)+": "+exprString(sel))
				}
			}
			return true
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, s := range d.Specs {
				for _, v := range s.(*ast.ValueSpec).Values {
					visit(v)
				}
			}
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name == "init" && d.Body != nil {
				visit(d.Body)
			}
		}
	}
	return found
}

func exprString(sel *ast.SelectorExpr) string {
	if id, ok := sel.X.(*ast.Ident); ok {
		return id.Name + "." + sel.Sel.Name
	}
	return "…." + sel.Sel.Name
}

func TestInitTimeCompilesDetector(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"package-level regexp", "package p\nimport \"regexp\"\nvar re = regexp.MustCompile(`a{1,9}`)\n", []string{"x.go:3: regexp.MustCompile"}},
		{"in a table", "package p\nimport re \"regexp\"\nvar t = []struct{ r *re.Regexp }{{re.MustCompile(`a`)}}\n", []string{"x.go:3: re.MustCompile"}},
		{"template", "package p\nimport \"text/template\"\nvar t = template.Must(template.New(\"x\").Parse(\"{{.}}\"))\n", []string{"x.go:3: template.Must", "x.go:3: ….Parse"}},
		{"init function", "package p\nimport \"regexp\"\nvar re *regexp.Regexp\nfunc init() { re = regexp.MustCompile(`a`) }\n", []string{"x.go:4: regexp.MustCompile"}},
		{"lazy", "package p\nimport (\"regexp\"; \"sync\")\nvar re = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`a`) })\n", nil},
		{"inside a function", "package p\nimport \"regexp\"\nfunc f() bool { return regexp.MustCompile(`a`).MatchString(\"a\") }\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := initTimeCompiles(fset, f); !slices.Equal(got, tt.want) {
				t.Errorf("initTimeCompiles = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNoCompilesAtPackageInitialisation holds the worker's start-up: no
// package of this module that the binary links compiles a regular
// expression, template or schema while it is initialised.
func TestNoCompilesAtPackageInitialisation(t *testing.T) {
	fset := token.NewFileSet()
	var found []string
	files := 0
	for _, root := range []string{"../../internal", "."} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			files++
			found = append(found, initTimeCompiles(fset, f)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 100 {
		t.Fatalf("scanned %d Go files under ../../internal and .: the walk missed the module's packages", files)
	}
	for _, f := range found {
		t.Errorf("%s runs at package initialisation, on every start of ecsworker: build it on first use (lazyregexp.New, sync.OnceValue)", f)
	}
}

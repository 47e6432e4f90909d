package infracheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Checker validates the deployment files of one tree: the repository itself, or a temporary copy that a test has
// broken on purpose. The Node.js tools (tree-sitter-bicep, ajv) and the parse scripts always come from Repo.
type Checker struct {
	// Root is the tree whose infra/, scripts/ and functions/ are checked.
	Root string
	// Repo is the repository root that holds node_modules and tests/infra/js.
	Repo string

	mu    sync.Mutex
	parse map[string][]BicepFile // parses by file list: the tree does not change during a check run
}

// NewChecker checks the repository that contains the working directory.
func NewChecker() (*Checker, error) {
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return &Checker{Root: repo, Repo: repo}, nil
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// BicepFile is what tests/infra/js/bicep-parse.js reports about one file.
type BicepFile struct {
	File        string           `json:"file"`
	Errors      []BicepError     `json:"errors"`
	TargetScope *string          `json:"targetScope"`
	Params      []BicepParam     `json:"params"`
	Vars        []BicepVar       `json:"vars"`
	Resources   []BicepResource  `json:"resources"`
	Modules     []BicepModule    `json:"modules"`
	Outputs     []BicepOutput    `json:"outputs"`
	Calls       []BicepCall      `json:"calls"`
	Strings     []BicepString    `json:"strings"`
	References  []string         `json:"references"`
	Subscripts  []BicepSubscript `json:"subscripts"`
	Loops       []BicepLoop      `json:"loops"`
	// Arm is the file's declarations as `bicep build` would write them; nil when the file has syntax errors.
	Arm *BicepArm `json:"arm"`
}

// BicepArm is the ARM JSON (languageVersion 1.0) of a file's declarations, translated by tests/infra/js/bicep-arm.js.
// A value it could not translate is {"$armError": reason, "$expr": source}.
type BicepArm struct {
	// Vars are the ARM variables: every Bicep variable that does not read a runtime value.
	Vars map[string]any `json:"vars"`
	// RuntimeVars read a resource's properties or a module's outputs; ARM inlines them where they are used.
	RuntimeVars []string `json:"runtimeVars"`
	// Resources are the declared (not existing) resources, Modules the nested deployments of the modules.
	Resources []ArmDecl `json:"resources"`
	Modules   []ArmDecl `json:"modules"`
	// Outputs maps each output to its ARM value.
	Outputs map[string]any `json:"outputs"`
}

// ArmDecl is one resource or module declaration and the ARM resource it becomes (for a module without
// properties.template, which is the module file's own translation).
type ArmDecl struct {
	Symbol string         `json:"symbol"`
	Line   int            `json:"line"`
	Path   string         `json:"path"`
	Value  map[string]any `json:"value"`
}

// BicepError is a syntax error or a missing token.
type BicepError struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
}

// BicepParam is a parameter declaration. Default is a JSON literal or {"$expr": source}.
type BicepParam struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Decorators map[string]any `json:"decorators"`
	HasDefault bool           `json:"hasDefault"`
	Default    any            `json:"default"`
	Line       int            `json:"line"`
}

// BicepVar is a variable declaration; ObjectKeys are the top-level keys of the object literals it can be.
type BicepVar struct {
	Name       string   `json:"name"`
	Value      any      `json:"value"`
	ObjectKeys []string `json:"objectKeys"`
	Line       int      `json:"line"`
}

// BicepResource is a resource declaration; Type is "<type>@<apiVersion>".
type BicepResource struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Existing    bool           `json:"existing"`
	Nested      bool           `json:"nested"`
	Loop        bool           `json:"loop"`
	Conditional bool           `json:"conditional"`
	Body        map[string]any `json:"body"`
	Line        int            `json:"line"`
}

// BicepModule is a module declaration.
type BicepModule struct {
	Name        string         `json:"name"`
	Path        string         `json:"path"`
	Conditional bool           `json:"conditional"`
	Body        map[string]any `json:"body"`
	Line        int            `json:"line"`
}

// BicepOutput is an output declaration.
type BicepOutput struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Decorators map[string]any `json:"decorators"`
	Value      any            `json:"value"`
	Line       int            `json:"line"`
}

// BicepCall is a call of a load*() function.
type BicepCall struct {
	Fn   string `json:"fn"`
	Args []any  `json:"args"`
	Line int    `json:"line"`
}

// BicepString is a string literal.
type BicepString struct {
	Text string `json:"text"`
	Line int    `json:"line"`
}

// BicepSubscript is an x[index] expression.
type BicepSubscript struct {
	Object string `json:"object"`
	Index  any    `json:"index"`
	Line   int    `json:"line"`
}

// BicepLoop is a for expression.
type BicepLoop struct {
	Variable string `json:"variable"`
	Iterable string `json:"iterable"`
	Line     int    `json:"line"`
}

// Param returns the parameter called name.
func (f *BicepFile) Param(name string) (BicepParam, bool) {
	i := slices.IndexFunc(f.Params, func(p BicepParam) bool { return p.Name == name })
	if i < 0 {
		return BicepParam{}, false
	}
	return f.Params[i], true
}

// Var returns the variable called name.
func (f *BicepFile) Var(name string) (BicepVar, bool) {
	i := slices.IndexFunc(f.Vars, func(v BicepVar) bool { return v.Name == name })
	if i < 0 {
		return BicepVar{}, false
	}
	return f.Vars[i], true
}

// Description returns a declaration's @description text.
func Description(decorators map[string]any) string {
	s, _ := decorators["description"].(string)
	return s
}

// BicepFiles lists every .bicep file under Root/infra, relative to Root, sorted.
func (c *Checker) BicepFiles() ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(c.Root, "infra"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".bicep") {
			rel, err := filepath.Rel(c.Root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// ParseBicep parses files (relative to Root) with tree-sitter-bicep. Results are cached per Checker, which must
// therefore not outlive a change to the files.
func (c *Checker) ParseBicep(files ...string) ([]BicepFile, error) {
	key := strings.Join(files, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	if parsed, ok := c.parse[key]; ok {
		return parsed, nil
	}
	parsed, err := c.parseBicep(files)
	if err != nil {
		return nil, err
	}
	if c.parse == nil {
		c.parse = map[string][]BicepFile{}
	}
	c.parse[key] = parsed
	return parsed, nil
}

func (c *Checker) parseBicep(files []string) ([]BicepFile, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not installed: the Bicep syntax check needs Node.js (see docs/development.md)")
	}
	if _, err := os.Stat(filepath.Join(c.Repo, "node_modules", "tree-sitter-bicep")); err != nil {
		return nil, errors.New("node_modules/tree-sitter-bicep is missing: run `make tools`")
	}
	args := []string{filepath.Join(c.Repo, "tests", "infra", "js", "bicep-parse.js")}
	for _, f := range files {
		args = append(args, filepath.Join(c.Root, filepath.FromSlash(f)))
	}
	cmd := exec.Command(node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bicep-parse.js: %w: %s", err, stderr.String())
	}
	var parsed []BicepFile
	if err := json.Unmarshal(out, &parsed); err != nil {
		return nil, fmt.Errorf("bicep-parse.js output: %w", err)
	}
	for i := range parsed {
		rel, err := filepath.Rel(c.Root, parsed[i].File)
		if err == nil {
			parsed[i].File = filepath.ToSlash(rel)
		}
	}
	return parsed, nil
}

// ParseAllBicep parses every .bicep file under infra/ and indexes the results by relative path.
func (c *Checker) ParseAllBicep() (map[string]*BicepFile, error) {
	files, err := c.BicepFiles()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no .bicep files under infra/")
	}
	parsed, err := c.ParseBicep(files...)
	if err != nil {
		return nil, err
	}
	out := map[string]*BicepFile{}
	for i := range parsed {
		out[parsed[i].File] = &parsed[i]
	}
	return out, nil
}

// exprText returns the source text of a converted Bicep value: the string for a literal string, the expression
// text otherwise.
func exprText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		if e, ok := t["$expr"].(string); ok {
			return e
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// isExpr reports whether a converted Bicep value is an expression rather than a literal.
func isExpr(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["$expr"]
	return ok
}

// stringChoices returns the literal strings an expression can evaluate to: the string itself, or both branches
// of a ternary of strings. ok is false for anything else.
func stringChoices(v any) ([]string, bool) {
	switch t := v.(type) {
	case string:
		return []string{t}, true
	case []any:
		var out []string
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case map[string]any:
		choices, ok := t["$choices"].([]any)
		if !ok {
			return nil, false
		}
		var out []string
		for _, c := range choices {
			s, ok := stringChoices(c)
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	}
	return nil, false
}

package infracheck

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ShellScripts lists the shell scripts the project ships: scripts/**/*.sh and infra/**/*.sh, relative to Root.
func (c *Checker) ShellScripts() ([]string, error) {
	var out []string
	for _, dir := range []string{"scripts", "infra"} {
		err := filepath.WalkDir(filepath.Join(c.Root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".sh") {
				rel, err := filepath.Rel(c.Root, path)
				if err != nil {
					return err
				}
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// CheckShell runs `bash -n` and shellcheck on every shell script and checks the house rules: a bash shebang,
// `set -euo pipefail`, the executable bit.
func (c *Checker) CheckShell() []error {
	scripts, err := c.ShellScripts()
	if err != nil {
		return []error{err}
	}
	if len(scripts) == 0 {
		return []error{errors.New("no shell scripts found under scripts/ and infra/")}
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		return []error{errors.New("shellcheck is not installed: run `make tools`")}
	}
	var errs []error
	var paths []string
	for _, s := range scripts {
		path := filepath.Join(c.Root, filepath.FromSlash(s))
		paths = append(paths, path)
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		text := string(b)
		if !strings.HasPrefix(text, "#!/usr/bin/env bash\n") && !strings.HasPrefix(text, "#!/bin/bash\n") {
			errs = append(errs, fmt.Errorf("%s: must start with #!/usr/bin/env bash", s))
		}
		if !regexp.MustCompile(`(?m)^set -euo pipefail$`).MatchString(text) {
			errs = append(errs, fmt.Errorf("%s: must run with set -euo pipefail", s))
		}
		if info, err := os.Stat(path); err == nil && info.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%s: not executable (chmod +x, and git add --chmod=+x)", s))
		}
		if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s: bash -n: %s", s, bytes.TrimSpace(out)))
		}
	}
	cmd := exec.Command(shellcheck, append([]string{"--shell=bash", "--external-sources", "--severity=style", "--format=gcc"}, paths...)...)
	cmd.Dir = c.Root
	out, err := cmd.CombinedOutput()
	if err != nil {
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				errs = append(errs, fmt.Errorf("shellcheck: %s", strings.TrimPrefix(line, c.Root+string(filepath.Separator))))
			}
		}
		if len(errs) == 0 {
			errs = append(errs, fmt.Errorf("shellcheck: %w", err))
		}
	}
	return errs
}

// JSONSchemaChecks pairs each JSON file with the hand-written schema it must satisfy.
var JSONSchemaChecks = []struct{ Schema, File string }{
	{"tests/infra/schemas/arm-template.schema.json", MainTemplatePath},
	{"tests/infra/schemas/create-ui-definition.schema.json", CreateUIDefinitionPath},
	{"tests/infra/schemas/arm-template.schema.json", ProductTemplatePath},
	{"tests/infra/schemas/create-ui-definition.schema.json", ProductUIDefinitionPath},
	{"tests/infra/schemas/permissions.schema.json", PermissionsPath},
	{"tests/infra/schemas/roles.schema.json", RolesPath},
}

// CheckJSONSchemas validates the ARM template, the portal form, permissions.json and roles.json against the
// schemas in tests/infra/schemas with ajv.
func (c *Checker) CheckJSONSchemas() []error {
	node, err := exec.LookPath("node")
	if err != nil {
		return []error{errors.New("node is not installed")}
	}
	var errs []error
	for _, pair := range JSONSchemaChecks {
		cmd := exec.Command(node, filepath.Join(c.Repo, "tests", "infra", "js", "validate-json.js"),
			filepath.Join(c.Repo, filepath.FromSlash(pair.Schema)), filepath.Join(c.Root, filepath.FromSlash(pair.File)))
		out, err := cmd.CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s against %s: %s", pair.File, pair.Schema, bytes.TrimSpace(out)))
		}
	}
	return errs
}

// RawBaseURL is where the Deploy to Azure button fetches the templates from: the repository's default branch.
const RawBaseURL = "https://raw.githubusercontent.com/entra-di/edi/main/"

var deployButton = regexp.MustCompile(`https://portal\.azure\.com/#create/Microsoft\.Template/uri/([^/)\s]+)/createUIDefinitionUri/([^)\s]+)`)

// CheckDeployButtons checks every "Deploy to Azure" link in the given Markdown files: the template and the form
// are URL-encoded raw URLs of files that exist in the repository, and they are the Marketplace pair.
func (c *Checker) CheckDeployButtons(markdown ...string) []error {
	var errs []error
	for _, md := range markdown {
		b, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(md)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		links := deployButton.FindAllStringSubmatch(string(b), -1)
		if len(links) == 0 {
			errs = append(errs, fmt.Errorf("%s has no Deploy to Azure link", md))
		}
		for _, l := range links {
			for i, want := range []string{MainTemplatePath, CreateUIDefinitionPath} {
				raw, err := url.PathUnescape(l[i+1])
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", md, err))
					continue
				}
				if strings.ContainsAny(l[i+1], ":/") {
					errs = append(errs, fmt.Errorf("%s: %s is not URL-encoded", md, l[i+1]))
				}
				if raw != RawBaseURL+want {
					errs = append(errs, fmt.Errorf("%s: link points to %s, want %s", md, raw, RawBaseURL+want))
				}
				if _, err := os.Stat(filepath.Join(c.Root, filepath.FromSlash(want))); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s does not exist", md, want))
				}
			}
		}
	}
	return errs
}

// CheckDocs checks that the deployment guide names every parameter and output of infra/main.bicep and every app
// setting the template sets, so the guide is updated with the template.
func (c *Checker) CheckDocs(guide string) []error {
	b, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(guide)))
	if err != nil {
		return []error{err}
	}
	text := string(b)
	parsed, err := c.ParseBicep(MainBicepPath)
	if err != nil {
		return []error{err}
	}
	settings, err := c.TemplateAppSettings()
	if err != nil {
		return []error{err}
	}
	var errs []error
	mention := func(kind, name string) {
		if !strings.Contains(text, "`"+name+"`") {
			errs = append(errs, fmt.Errorf("%s does not document the %s `%s`", guide, kind, name))
		}
	}
	for _, p := range parsed[0].Params {
		mention("parameter", p.Name)
	}
	for _, o := range parsed[0].Outputs {
		mention("output", o.Name)
	}
	for _, s := range settings {
		mention("app setting", s)
	}
	return errs
}

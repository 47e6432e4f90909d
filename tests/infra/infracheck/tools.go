package infracheck

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
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

// RawBaseURL is where the app-registration button fetches its pair from: the repository's default branch.
const RawBaseURL = "https://raw.githubusercontent.com/entra-di/edi/main/"

// ReleaseDownloadURL is where the whole product's button fetches its pair from: the assets of the latest release,
// which scripts/release.sh writes with the package URL pinned to that release.
const ReleaseDownloadURL = "https://github.com/entra-di/edi/releases/latest/download/"

// DeployButton is a "Deploy to Azure" link target: the template and form URLs and the repository files behind them.
type DeployButton struct {
	Name                 string
	TemplateURL, UIURL   string
	TemplateFile, UIFile string
}

// DeployButtons are the buttons the documentation may show; the product's is required in every guide.
var DeployButtons = []DeployButton{
	{"the whole product", ReleaseDownloadURL + path.Base(ProductTemplatePath), ReleaseDownloadURL + path.Base(ProductUIDefinitionPath),
		ProductTemplatePath, ProductUIDefinitionPath},
	{"the app registration", RawBaseURL + MainTemplatePath, RawBaseURL + CreateUIDefinitionPath, MainTemplatePath, CreateUIDefinitionPath},
}

var deployButton = regexp.MustCompile(`https://portal\.azure\.com/#create/Microsoft\.Template/uri/([^/)\s]+)/createUIDefinitionUri/([^)\s]+)`)

// CheckDeployButtons checks every "Deploy to Azure" link in the given Markdown files: the template and the form are
// URL-encoded URLs of one of the DeployButtons pairs, whose files exist in the repository, and every file has the
// whole product's button.
func (c *Checker) CheckDeployButtons(markdown ...string) []error {
	var errs []error
	for _, md := range markdown {
		b, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(md)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		links := deployButton.FindAllStringSubmatch(string(b), -1)
		found := map[string]bool{}
		for _, l := range links {
			var urls [2]string
			for i := range urls {
				if strings.ContainsAny(l[i+1], ":/") {
					errs = append(errs, fmt.Errorf("%s: %s is not URL-encoded", md, l[i+1]))
				}
				u, err := url.PathUnescape(l[i+1])
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", md, err))
				}
				urls[i] = u
			}
			i := slices.IndexFunc(DeployButtons, func(d DeployButton) bool { return d.TemplateURL == urls[0] && d.UIURL == urls[1] })
			if i < 0 {
				errs = append(errs, fmt.Errorf("%s: link points to %s and %s, which is no known pair (%s)", md, urls[0], urls[1], knownButtons()))
				continue
			}
			found[DeployButtons[i].Name] = true
			for _, f := range []string{DeployButtons[i].TemplateFile, DeployButtons[i].UIFile} {
				if _, err := os.Stat(filepath.Join(c.Root, filepath.FromSlash(f))); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s does not exist", md, f))
				}
			}
		}
		if !found[DeployButtons[0].Name] {
			errs = append(errs, fmt.Errorf("%s has no Deploy to Azure link for %s (%s)", md, DeployButtons[0].Name, DeployButtons[0].TemplateURL))
		}
	}
	return errs
}

func knownButtons() string {
	var out []string
	for _, d := range DeployButtons {
		out = append(out, d.Name+": "+d.TemplateURL)
	}
	return strings.Join(out, "; ")
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

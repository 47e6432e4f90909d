package hostsim

import (
	"encoding/json"
	"fmt"
	"os"
)

// LoadLocalSettings reads the Values of a local.settings.json (the file `func start` reads). An encrypted file
// is refused.
func LoadLocalSettings(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		IsEncrypted bool              `json:"IsEncrypted"`
		Values      map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.IsEncrypted {
		return nil, fmt.Errorf("%s: encrypted settings are not supported", path)
	}
	if f.Values == nil {
		f.Values = map[string]string{}
	}
	return f.Values, nil
}

// IsDevelopmentStorage reports whether a connection string is the UseDevelopmentStorage=true shortcut.
func IsDevelopmentStorage(cs string) bool {
	return equalFoldTrim(cs, "UseDevelopmentStorage=true")
}

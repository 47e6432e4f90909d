// Command az is the fake Azure CLI of tests/infra (see package azfake); tests build it and put it first on PATH.
package main

import (
	"os"

	"github.com/entra-di/edi/tests/infra/azfake"
)

func main() {
	os.Exit(azfake.Main(os.Args[1:], os.Stdout, os.Stderr))
}

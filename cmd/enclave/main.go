package main

import (
	"os"

	"github.com/enclave-mlops/enclave/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}

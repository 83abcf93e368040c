package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case workerFlag:
			os.Exit(workerMain())
		case "drain":
			os.Exit(drainMain(os.Args[2:], os.Stdout, os.Stderr))
		case "upgrade": // upgrade.go
			os.Exit(upgradeMain(os.Args[2:], os.Stdout, os.Stderr))
		case "compare":
			os.Exit(compareMain(os.Args[2:], os.Stdout, os.Stderr))
		case "report-md":
			os.Exit(reportMDMain(os.Args[2:], os.Stdout, os.Stderr))
		case "chart":
			os.Exit(chartMain(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	res, err := runLoad(cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	res.writeTable(os.Stdout)
	if cfg.jsonPath != "" {
		if err := res.writeJSON(cfg.jsonPath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if !res.OK {
		os.Exit(1)
	}
}

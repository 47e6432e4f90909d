//go:build !linux

package proc

import "syscall"

// Only Linux has a parent-death signal; elsewhere Stop and Main must run for children to end.
func setDeathSignal(*syscall.SysProcAttr) {}

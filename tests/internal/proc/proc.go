// Package proc starts the child processes of the test stand-ins (Azurite, the custom handler) so that none
// outlives the process that started it: each child leads its own process group, so a signal reaches anything it
// spawned, and on Linux the kernel kills it when its parent dies (Pdeathsig), which covers a test binary that
// panics or hits its -timeout before any cleanup runs.
package proc

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Configure makes cmd start in its own process group and, on Linux, die with its parent. Call it before
// cmd.Start.
//
// Pdeathsig fires when the OS thread that forked the child exits. The Go runtime only ends a thread when a
// goroutine that called runtime.LockOSThread returns without unlocking, so never start children from such a
// goroutine.
func Configure(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr)
}

// SignalGroup sends sig to the process group led by p (see Configure). A group that is already gone is not an
// error.
func SignalGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return nil
	}
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Signal sends sig to p alone. A process that is already gone is not an error.
func Signal(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return nil
	}
	err := p.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// ExitInfo describes how a finished process ended.
type ExitInfo struct {
	// Code is the exit code, or -1 when the process was ended by a signal.
	Code int
	// Signal is the signal that ended the process, or 0.
	Signal syscall.Signal
}

// Exit reads the exit code and signal of a finished process from the error cmd.Wait returned and its state.
func Exit(state *os.ProcessState) ExitInfo {
	if state == nil {
		return ExitInfo{Code: -1}
	}
	info := ExitInfo{Code: state.ExitCode()}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		info.Signal = ws.Signal()
	}
	return info
}

package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
)

// options are the flags every command that touches state shares. Their
// defaults come from the environment so that tests and a second
// installation never touch the real one.
type options struct {
	bpffs    string
	stateDir string
	logLevel string
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func addOptions(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.bpffs, "bpffs", envOr("SOCKSHIM_BPFFS", bpf.DefaultRoot), "bpffs directory of sockshim's pins (env SOCKSHIM_BPFFS)")
	fs.StringVar(&o.stateDir, "state-dir", envOr("SOCKSHIM_STATE_DIR", records.DefaultDir), "directory of sockshim's records (env SOCKSHIM_STATE_DIR)")
	fs.StringVar(&o.logLevel, "log-level", envOr("SOCKSHIM_LOG_LEVEL", "warn"), "debug, info, warn or error (env SOCKSHIM_LOG_LEVEL)")
	return o
}

// logger logs to stderr, never to stdout: stdout belongs to the command's
// output (ls, port) or to the program `sockshim run` runs.
func (o *options) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.level()}))
}

// level is --log-level, warn when it does not parse.
func (o *options) level() slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return slog.LevelWarn
	}
	return level
}

// newFlagSet makes a quiet flag set: parse prints the manual or the error.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args, printing the manual for -h and a one-line error for a
// bad flag. ok is false when the caller should return code.
func parse(fs *flag.FlagSet, usage string, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	if err == flag.ErrHelp {
		fmt.Print(usage)
		return exitOK, false
	}
	if err != nil {
		return fail(exitUsage, "%s: %s (see sockshim help %s)", fs.Name(), strings.TrimSpace(err.Error()), fs.Name()), false
	}
	return 0, true
}

// hookLogger logs to stderr (runc shows a hook's stderr, crun hides it,
// podman only warns) and, with --log-file, to that file too. toFile logs to
// the file alone (discarding when there is none).
func (o *options) hookLogger(file string) (both, toFile *slog.Logger, closeFn func(), err error) {
	level := o.level()
	var fileW io.Writer = io.Discard
	closeFn = func() {}
	if file != "" {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("open log file: %w", err)
		}
		fileW, closeFn = f, func() { f.Close() }
	}
	handler := func(w io.Writer) *slog.Logger {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return handler(io.MultiWriter(os.Stderr, fileW)), handler(fileW), closeFn, nil
}

// addPool declares --pool LOW-HIGH (env SOCKSHIM_POOL), the host ports to
// allocate from; the function it returns parses it once flags are parsed.
// Its default is empty so that install and inject pass on only a pool the
// user chose.
func addPool(fs *flag.FlagSet) func() (group.Pool, error) {
	v := fs.String("pool", os.Getenv("SOCKSHIM_POOL"), "")
	return func() (group.Pool, error) {
		if *v == "" {
			return group.DefaultPool, nil
		}
		pool, err := group.ParsePool(*v)
		if err != nil {
			return group.Pool{}, fmt.Errorf("--pool: %w", err)
		}
		return pool, nil
	}
}

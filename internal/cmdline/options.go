package cmdline

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

// Options are the flags every command that touches state shares. Their
// defaults come from the environment so that tests and a second
// installation never touch the real one.
type Options struct {
	BPFFS    string
	StateDir string
	LogLevel string
}

func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func AddOptions(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.BPFFS, "bpffs", EnvOr("SOCKSHIM_BPFFS", bpf.DefaultRoot), "bpffs directory of sockshim's pins (env SOCKSHIM_BPFFS)")
	fs.StringVar(&o.StateDir, "state-dir", EnvOr("SOCKSHIM_STATE_DIR", records.DefaultDir), "directory of sockshim's records (env SOCKSHIM_STATE_DIR)")
	fs.StringVar(&o.LogLevel, "log-level", EnvOr("SOCKSHIM_LOG_LEVEL", "warn"), "debug, info, warn or error (env SOCKSHIM_LOG_LEVEL)")
	return o
}

// Logger logs to stderr, never to stdout: stdout belongs to the command's
// output (ls, port) or to the program `sockshim run` runs.
func (o *Options) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.Level()}))
}

// Level is --log-level, warn when it does not parse.
func (o *Options) Level() slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return slog.LevelWarn
	}
	return level
}

// NewFlagSet makes a quiet flag set: parse prints the manual or the error.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// Parse parses args, printing the manual for -h and a one-line error for a
// bad flag. ok is false when the caller should return code.
func Parse(fs *flag.FlagSet, usage string, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	if err == flag.ErrHelp {
		fmt.Print(usage)
		return ExitOK, false
	}
	if err != nil {
		return Fail(ExitUsage, "%s: %s (see sockshim help %s)", fs.Name(), strings.TrimSpace(err.Error()), fs.Name()), false
	}
	return 0, true
}

// HookLogger logs to stderr (runc shows a hook's stderr, crun hides it,
// podman only warns) and, with --log-file, to that file too. toFile logs to
// the file alone (discarding when there is none).
func (o *Options) HookLogger(file string) (both, toFile *slog.Logger, closeFn func(), err error) {
	level := o.Level()
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

// AddPool declares --pool LOW-HIGH (env SOCKSHIM_POOL), the host ports to
// allocate from; the function it returns parses it once flags are parsed.
// Its default is empty so that install and inject pass on only a pool the
// user chose.
func AddPool(fs *flag.FlagSet) func() (group.Pool, error) {
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

package interop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// instanceHeader is set on every answer of a demoInstance, the 101 too
// (the negotiator copies the ResponseWriter's header into it), so a client
// behind the proxy can tell which instance served it.
const instanceHeader = "X-Switchyard-Instance"

// demoInstance is one instance of the demo behind the proxy: a real
// loopback server with the demo's configuration and its own negotiator,
// served and shut down as examples/server does (internal/demoserver). It is
// built in process rather than run as the program because an outer handler
// tags its answers with instanceHeader and keeps the header of every
// upgrade offer that reached it, to show what the proxy forwarded.
type demoInstance struct {
	name string
	addr string
	n    *negotiate.Negotiator

	mu     sync.Mutex
	offers []http.Header

	stopOnce sync.Once
	stopErr  error
	srv      *http.Server
	served   chan error
}

func startDemoInstance(t *testing.T, name string) *demoInstance {
	t.Helper()
	n := testkit.NewNegotiator(t, &negotiate.Options{ShutdownTimeout: demoserver.ShutdownGrace})
	app, err := demoserver.Handler(n)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst := &demoInstance{name: name, addr: ln.Addr().String(), n: n, served: make(chan error, 1)}
	tagged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(instanceHeader, name)
		if len(r.Header["Upgrade"]) > 0 {
			inst.mu.Lock()
			inst.offers = append(inst.offers, r.Header.Clone())
			inst.mu.Unlock()
		}
		app.ServeHTTP(w, r)
	})
	inst.srv = demoserver.Server(n, tagged, log.New(io.Discard, "", 0))
	go func() { inst.served <- inst.srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := inst.stop(); err != nil {
			t.Errorf("instance %s: %v", name, err)
		}
	})
	return inst
}

// stop shuts the instance down as SIGTERM does the demo (plain requests
// finish, switched connections are closed their protocol's way, all within
// demoserver.ShutdownGrace) and waits for its server to return. Later
// calls return the first result.
func (inst *demoInstance) stop() error {
	inst.stopOnce.Do(func() {
		inst.stopErr = demoserver.Shutdown(inst.srv, inst.n)
		if err := <-inst.served; !errors.Is(err, http.ErrServerClosed) && inst.stopErr == nil {
			inst.stopErr = err
		}
	})
	return inst.stopErr
}

func (inst *demoInstance) stats() negotiate.Stats { return inst.n.Stats() }

// lastOffer returns the header of the last upgrade offer the instance
// received, and how many it received.
func (inst *demoInstance) lastOffer() (http.Header, int) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if len(inst.offers) == 0 {
		return nil, 0
	}
	return inst.offers[len(inst.offers)-1], len(inst.offers)
}

// nginxProgram returns the nginx binary: $SWITCHYARD_NGINX, nginx on PATH,
// or /usr/sbin/nginx (Debian's, not on an ordinary user's PATH).
func nginxProgram(t *testing.T) string {
	t.Helper()
	return findPeer(t, "SWITCHYARD_NGINX", []string{"nginx", "/usr/sbin/nginx"},
		"nginx is not on PATH nor in /usr/sbin (Debian package nginx-light)")
}

// nginxProxy is a running nginx master process (one worker) serving the
// configuration nginxConfig wrote to its own temp dir.
type nginxProxy struct {
	addr   string // 127.0.0.1:port nginx listens on
	dir    string // prefix: configuration, logs, pid, temp paths
	cmd    *exec.Cmd
	exited chan struct{} // closed when the master has exited; then waitErr is set
	wait   error

	stopOnce sync.Once
	stopErr  error
}

// startNginx writes the configuration for the upstream instances to a temp
// dir and starts nginx on it in the foreground.
//
// The listening socket is made here and handed to nginx (fd 3, named in
// the NGINX environment variable, the mechanism nginx uses to pass its
// sockets to a new binary on the fly): no free-port guessing that another
// process on the machine could race, and the socket accepts — queues —
// connections before nginx has even started.
func startNginx(t *testing.T, bin string, upstreams []string) *nginxProxy {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close() // lnFile is a duplicate and keeps listening
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()
	p := &nginxProxy{addr: ln.Addr().String(), dir: dir, exited: make(chan struct{})}

	conf := filepath.Join(dir, "nginx.conf")
	cfg := nginxConfig(dir, p.addr, upstreams, nginxModules(t, bin))
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "error.log")}

	// The configuration is checked first, so that a mistake in it is
	// reported as such rather than as a proxy that does not answer.
	if out, err := exec.Command(bin, append([]string{"-t", "-q"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\nconfiguration:\n%s", err, out, cfg)
	}

	out, err := os.Create(filepath.Join(dir, "stdout-stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = out, out // files: no copying goroutines
	p.cmd.ExtraFiles = []*os.File{lnFile} // fd 3
	p.cmd.Env = append(os.Environ(), "NGINX=3;")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	go func() {
		p.wait = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("nginx: %v\n%s", err, p.logs())
		}
	})
	p.waitReady(t)
	return p
}

// waitReady asks nginx's own /nginx-ready (answered by nginx, never by an
// instance, so the round robin is untouched) until it answers.
func (p *nginxProxy) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.addr+"/nginx-ready", nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		got <- result{resp, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("nginx does not answer: %v\n%s", r.err, p.logs())
		}
		r.resp.Body.Close()
		if r.resp.StatusCode != http.StatusNoContent {
			t.Fatalf("nginx /nginx-ready: %s, want 204\n%s", r.resp.Status, p.logs())
		}
	case <-p.exited:
		cancel()
		<-got
		t.Fatalf("nginx exited at start: %v\n%s", p.wait, p.logs())
	}
}

// stop sends SIGQUIT (graceful shutdown: stop accepting, finish the
// connections in progress, exit) and waits for the master to exit with
// status 0. Should it not exit within the test's bound, it is killed.
func (p *nginxProxy) stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			p.stopErr = fmt.Errorf("exited before it was stopped: %v", p.wait)
			return
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
			p.stopErr = fmt.Errorf("SIGQUIT: %w", err)
		}
		select {
		case <-p.exited:
		case <-time.After(testTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
			p.stopErr = errors.New("did not exit after SIGQUIT; killed")
			return
		}
		if p.stopErr == nil && p.wait != nil {
			p.stopErr = fmt.Errorf("exit after SIGQUIT: %w", p.wait)
		}
		if p.stopErr == nil {
			// Something nginx found grave enough to log at these levels
			// is a failure even if it carried on.
			for _, line := range strings.Split(p.errorLog(), "\n") {
				for _, level := range []string{"[emerg]", "[alert]", "[crit]"} {
					if strings.Contains(line, level) {
						p.stopErr = fmt.Errorf("error log: %s", line)
					}
				}
			}
		}
	})
	return p.stopErr
}

func (p *nginxProxy) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
	return string(b)
}

// logs is what nginx wrote, for failure messages.
func (p *nginxProxy) logs() string {
	out, _ := os.ReadFile(filepath.Join(p.dir, "stdout-stderr.log"))
	access, _ := os.ReadFile(filepath.Join(p.dir, "access.log"))
	return fmt.Sprintf("nginx output:\n%s\nerror.log:\n%s\naccess.log:\n%s", out, p.errorLog(), access)
}

// url is the proxy's address with path.
func (p *nginxProxy) url(scheme, path string) string { return scheme + "://" + p.addr + path }

// nginxModules returns the "--without-..." switches nginx was built with,
// so that the configuration sets no temp path of a module that is not
// there (an unknown directive) and every one of a module that is (nginx
// creates them all at start, by default under /var/lib/nginx).
func nginxModules(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -V: %v\n%s", err, out)
	}
	return string(out)
}

// nginxConfig is the proxy's configuration: one worker (so the round robin
// over the two instances strictly alternates), everything under dir, and
// four ways to forward to the instances:
//
//   - location /: the usual WebSocket forwarding everybody copies
//     (proxy_http_version 1.1, Upgrade from the client, Connection from the
//     map, Host, X-Forwarded-For, X-Forwarded-Proto), with the demo's
//     /stats kept internal (403) as a proxy rule worth bypassing;
//   - location /passthrough/: the same, but Connection passed through as
//     the client sent it, so that nginx's rewriting of Connection no
//     longer stands in h2c's way and only the instances' guard against
//     proxied h2c upgrades is left;
//   - location /http-host/: location / with Host $http_host (the Host the
//     client sent, port included) instead of $host (without the port);
//   - location /unguarded/: Connection passed through and no X-Forwarded-*
//     fields, a proxy the guard cannot recognise — the control that shows
//     what the guard prevents.
func nginxConfig(dir, listen string, upstreams []string, built string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		// As root the master would run its worker as nobody, which cannot
		// enter the test's temp dir.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes 1;
# A graceful quit waits for upgraded connections; bound it, as a
# deployment should.
worker_shutdown_timeout 10s;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;

events {
	worker_connections 128;
}

http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/client_body_temp;
	proxy_temp_path %[1]s/proxy_temp;
`, dir)
	for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
		if !strings.Contains(built, "--without-http_"+m+"_module") {
			fmt.Fprintf(&b, "\t%[2]s_temp_path %[1]s/%[2]s_temp;\n", dir, m)
		}
	}
	b.WriteString(`
	map $http_upgrade $connection_upgrade {
		default upgrade;
		''      close;
	}

	upstream demo {
`)
	for _, u := range upstreams {
		fmt.Fprintf(&b, "\t\tserver %s;\n", u)
	}
	fmt.Fprintf(&b, `	}

	server {
		listen %s;

		location = /nginx-ready {
			return 204;
		}

		location = /stats {
			return 403;
		}
`, listen)
	for _, l := range []struct {
		path, pass       string
		connection, host string
		forwarded        bool // X-Forwarded-For and X-Forwarded-Proto set
	}{
		{"/", "http://demo", "$connection_upgrade", "$host", true},
		{"/passthrough/", "http://demo/", "$http_connection", "$host", true},
		{"/http-host/", "http://demo/", "$connection_upgrade", "$http_host", true},
		{"/unguarded/", "http://demo/", "$http_connection", "$host", false},
	} {
		fmt.Fprintf(&b, `
		location %s {
			proxy_pass %s;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection %s;
			proxy_set_header Host %s;
`, l.path, l.pass, l.connection, l.host)
		if l.forwarded {
			b.WriteString("\t\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n")
			b.WriteString("\t\t\tproxy_set_header X-Forwarded-Proto $scheme;\n")
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// Command go-peer is the Go net/http peer of scripts/bench-server.sh: the standard library's
// server, as an application would use it, answering /plaintext with the same 13-byte body as the
// other servers. The script runs it with GOMAXPROCS=1 and pins it to one core.
//
// Standard library only, so it builds offline: go build -o go-peer main.go
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

var helloWorld = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	// Set through the map directly: Header().Set canonicalises the name on every call.
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Write(helloWorld)
}

// echo reads the body and sends it back; the allocation count is not run on Go (its heap does not
// go through malloc), but every server answers the same routes.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header()["Content-Type"] = []string{"application/octet-stream"}
	w.Write(body)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on (HOST:PORT)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/echo", echo)
	// No timeouts: idle keep-alive connections stay open, as they do for the other peers in
	// the idle-connection measurement.
	server := &http.Server{Handler: mux}

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
		<-signals
		server.Close()
	}()
	if err := server.Serve(listener); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// Command pubrate measures acknowledged publishes per second on a publish
// socket: CONNS line-protocol connections, each pipelining PER commands of
// 100 bytes before reading its replies. Usage: go run ./bench/cluster/pubrate SOCKET CONNS PER
// (docs/BENCH.md, "Cluster mode").
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	sock := os.Args[1]
	conns, _ := strconv.Atoi(os.Args[2])
	per, _ := strconv.Atoi(os.Args[3])
	payload := strings.Repeat("x", 100)
	cmd := fmt.Sprintf("PUB rate %d\r\n%s\r\n", len(payload), payload)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", sock)
			if err != nil {
				panic(err)
			}
			defer c.Close()
			go func() {
				w := bufio.NewWriterSize(c, 64<<10)
				for range per {
					w.WriteString(cmd)
				}
				w.Flush()
			}()
			r := bufio.NewReader(c)
			for range per {
				l, err := r.ReadString('\n')
				if err != nil || !strings.HasPrefix(l, "+OK") {
					mu.Lock()
					bad++
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	fmt.Printf("%d conns x %d pipelined: %.0f acknowledged publishes/s (%v, %d refused)\n", conns, per, float64(conns*per)/d.Seconds(), d.Round(time.Millisecond), bad)
}

package workspace

import "sync"

// boundedMap is a map safe for concurrent use that holds at most max keys
// and starts over when full: for remembering things that are cheap to look
// up again, such as what never changes once written.
type boundedMap[V any] struct {
	max int
	mu  sync.Mutex
	m   map[string]V
}

func newBoundedMap[V any](max int) *boundedMap[V] { return &boundedMap[V]{max: max} }

func (c *boundedMap[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *boundedMap[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[string]V)
	}
	c.m[k] = v
}

func (c *boundedMap[V]) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// clear forgets every key.
func (c *boundedMap[V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

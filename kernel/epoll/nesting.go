package epoll

import (
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// maxNests is Linux's EP_MAX_NESTS: at most maxNests+1 instances in any
// chain of epolls watching epolls.
const maxNests = 4

// pathLimits[n] bounds the wakeup paths of n+1 hops from one file to an
// unwatched instance (Linux's path_limits; one hop is unlimited).
var pathLimits = [maxNests + 1]int{1000, 500, 100, 50, 10}

// loopCheck reports whether adding target into ep would make a cycle or a
// chain longer than maxNests+1 instances.
//
// +checklocks:ep.domain.nestMu
func (ep *EventPoll) loopCheck(target *EventPoll) bool {
	d := ep.domain
	d.checkGen++
	d.graphMu.Lock()
	defer d.graphMu.Unlock()
	down, cycle := target.downDepth(ep, d.checkGen, 0) // +checklocksignore: one Domain, reached through another instance.
	if cycle {
		return true
	}
	return down+1+ep.upDepth(0) > maxNests
}

// downDepth returns the longest chain of epolls below ep, and whether
// forbidden (an instance we are inserting into) is reachable.
//
// +checklocks:ep.domain.nestMu
// +checklocks:ep.domain.graphMu
func (ep *EventPoll) downDepth(forbidden *EventPoll, gen uint64, level int) (int, bool) {
	if ep == forbidden {
		return 0, true
	}
	if ep.gen == gen {
		return ep.depth, false
	}
	if level > maxNests+1 {
		// Deeper than any legal chain: no need to look further.
		return level, false
	}
	depth := 0
	for it := range ep.nested {
		d, cycle := it.target().downDepth(forbidden, gen, level+1) // +checklocksignore: one Domain, reached through another instance.
		if cycle {
			return 0, true
		}
		if d+1 > depth {
			depth = d + 1
		}
	}
	ep.gen, ep.depth = gen, depth
	return depth, false
}

// upDepth returns the longest chain of epolls above ep (instances that
// watch it, transitively). graphMu held; takes watch locks bottom-up.
func (ep *EventPoll) upDepth(level int) int {
	if level > maxNests+1 {
		return level
	}
	depth := 0
	ep.file.ForEachWatch(func(w *fs.Watch) bool {
		parent := w.Hook.Waker().(*item).ep
		if d := parent.upDepth(level+1) + 1; d > depth {
			depth = d
		}
		return true
	})
	return depth
}

// reversePathsOK counts, for every non-epoll file that the new item makes
// reachable, the wakeup paths from it up to unwatched instances, and
// reports whether they stay within pathLimits (Linux's reverse_path_check).
// ep.mu and d.nestMu are held and it is already inserted.
func (ep *EventPoll) reversePathsOK(it *item) bool {
	target := it.target()
	if target == nil {
		return pathsWithinLimits(it.file)
	}
	ok := true
	seen := map[*fs.File]bool{}
	target.forEachLeaf(seen, map[*EventPoll]bool{}, func(f *fs.File) bool {
		ok = pathsWithinLimits(f)
		return ok
	})
	return ok
}

// forEachLeaf calls fn once for each non-epoll file registered in ep or in
// the epolls below it, until fn returns false. Takes each visited
// instance's mu (parents before children, the nesting order).
func (ep *EventPoll) forEachLeaf(seen map[*fs.File]bool, visited map[*EventPoll]bool, fn func(*fs.File) bool) bool {
	if visited[ep] {
		return true
	}
	visited[ep] = true
	ep.mu.Lock()
	var children []*EventPoll
	cont := true
	ep.interest.forEach(func(it *item) {
		if !cont {
			return
		}
		if t := it.target(); t != nil {
			children = append(children, t)
			return
		}
		if !seen[it.file] {
			seen[it.file] = true
			cont = fn(it.file)
		}
	})
	ep.mu.Unlock()
	for _, c := range children {
		if !cont {
			break
		}
		cont = c.forEachLeaf(seen, visited, fn)
	}
	return cont
}

// pathsWithinLimits counts f's upward paths by length.
func pathsWithinLimits(f *fs.File) bool {
	var counts [maxNests + 1]int
	return countPaths(f, 0, &counts)
}

func countPaths(f *fs.File, depth int, counts *[maxNests + 1]int) bool {
	if depth > maxNests {
		return false
	}
	ok := true
	f.ForEachWatch(func(w *fs.Watch) bool {
		parent := w.Hook.Waker().(*item).ep.file
		if !parent.Watched() {
			if depth > 0 {
				counts[depth]++
				if counts[depth] > pathLimits[depth] {
					ok = false
				}
			}
		} else {
			ok = countPaths(parent, depth+1, counts)
		}
		return ok
	})
	return ok
}

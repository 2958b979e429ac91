// guest.c: scenarios that print what epoll answered, one result per line.
// The tests run each scenario natively and under the box and compare the
// outputs: Linux is the oracle. Usage: guest SCENARIO
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, int r, struct epoll_event *ev) {
	if (r < 0) {
		printf("%s: -1 %s\n", what, strerrorname_np(errno));
		return;
	}
	printf("%s: %d", what, r);
	if (ev)
		for (int i = 0; i < r; i++)
			printf(" [%#x %llu]", ev[i].events, (unsigned long long)ev[i].data.u64);
	printf("\n");
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, op, fd, &ev);
}

static void triggers(void) {
	struct epoll_event ev[8];
	int p[2];
	pipe2(p, O_NONBLOCK);
	int efd = eventfd(0, EFD_NONBLOCK);
	int lt = epoll_create1(0), et = epoll_create(1), os = epoll_create1(EPOLL_CLOEXEC);
	show("add lt", ctl(lt, EPOLL_CTL_ADD, p[0], EPOLLIN, 1), 0);
	show("add et", ctl(et, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 2), 0);
	show("add os", ctl(os, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLONESHOT, 3), 0);
	show("add et efd", ctl(et, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLOUT | EPOLLET, 4), 0);
	show("et initial", epoll_wait(et, ev, 8, 0), ev);
	show("et again", epoll_wait(et, ev, 8, 0), ev);
	write(p[1], "ab", 2);
	show("lt 1", epoll_wait(lt, ev, 8, 0), ev);
	show("lt 2", epoll_wait(lt, ev, 8, 0), ev);
	show("et 1", epoll_pwait(et, ev, 8, 0, NULL), ev);
	show("et 2", epoll_wait(et, ev, 8, 0), ev);
	write(p[1], "c", 1);
	show("et new edge", epoll_wait(et, ev, 8, 0), ev);
	show("os 1", epoll_wait(os, ev, 8, 0), ev);
	show("os 2", epoll_wait(os, ev, 8, 0), ev);
	show("os rearm", ctl(os, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 5), 0);
	show("os 3", epoll_wait(os, ev, 8, 0), ev);
	char buf[16];
	read(p[0], buf, sizeof buf);
	show("lt drained", epoll_wait(lt, ev, 8, 0), ev);
	uint64_t one = 1;
	write(efd, &one, 8);
	show("et efd write", epoll_wait(et, ev, 8, 0), ev);
	read(efd, &one, 8);
	show("et efd read (OUT edge)", epoll_wait(et, ev, 8, 0), ev);
	struct timespec ts = {0, 20 * 1000 * 1000};
	show("pwait2 timeout", syscall(SYS_epoll_pwait2, lt, ev, 8, &ts, NULL, 8), ev);
	show("mod lt out", ctl(lt, EPOLL_CTL_MOD, p[0], EPOLLOUT, 6), 0);
	show("lt out", epoll_wait(lt, ev, 8, 0), ev);
	show("del lt", ctl(lt, EPOLL_CTL_DEL, p[0], 0, 0), 0);
	show("lt empty", epoll_wait(lt, ev, 8, 0), ev);
	// An epoll fd is pollable and nestable.
	write(p[1], "d", 1);
	ctl(lt, EPOLL_CTL_ADD, p[0], EPOLLIN, 7);
	struct pollfd pf = {.fd = lt, .events = POLLIN | POLLOUT};
	int pr = poll(&pf, 1, 0);
	printf("poll lt: %d %#x\n", pr, pf.revents);
	int outer = epoll_create1(0);
	show("nest", ctl(outer, EPOLL_CTL_ADD, lt, EPOLLIN, 8), 0);
	show("outer", epoll_wait(outer, ev, 8, 0), ev);
	read(p[0], buf, sizeof buf);
	show("outer drained", epoll_wait(outer, ev, 8, 0), ev);
	pr = poll(&pf, 1, 0);
	printf("poll lt drained: %d %#x\n", pr, pf.revents);
	show("loop", ctl(lt, EPOLL_CTL_ADD, outer, EPOLLIN, 9), 0);
	close(lt);
	write(p[1], "e", 1);
	show("outer after inner closed", epoll_wait(outer, ev, 8, 0), ev);
}

static void errnos(void) {
	struct epoll_event ev[4];
	int p[2];
	pipe(p);
	int ep = epoll_create1(0);
	int reg = open("/proc/self/exe", O_RDONLY);
	show("create 0", epoll_create(0), 0);
	show("create1 bad flags", epoll_create1(1), 0);
	show("ctl bad event ptr", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], (void *)8), 0);
	show("ctl bad event ptr, bad epfd", epoll_ctl(999, EPOLL_CTL_ADD, p[0], (void *)8), 0);
	show("ctl del bad ptr ok", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], (void *)8), 0);
	show("ctl bad epfd", ctl(999, EPOLL_CTL_ADD, p[0], EPOLLIN, 0), 0);
	show("ctl bad fd", ctl(ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0), 0);
	show("ctl regular file", ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0), 0);
	show("ctl not epoll", ctl(p[1], EPOLL_CTL_ADD, p[0], EPOLLIN, 0), 0);
	show("ctl self", ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0), 0);
	show("ctl bad op", ctl(ep, 7, p[0], EPOLLIN, 0), 0);
	show("ctl add", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0), 0);
	show("ctl add again", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0), 0);
	show("ctl mod missing", ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 0), 0);
	show("ctl del missing", ctl(ep, EPOLL_CTL_DEL, p[1], 0, 0), 0);
	show("ctl exclusive mod", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0), 0);
	show("ctl exclusive bad bits", ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLEXCLUSIVE | EPOLLONESHOT, 0), 0);
	show("wait maxevents 0", epoll_wait(ep, ev, 0, 0), 0);
	show("wait maxevents 0 bad epfd", epoll_wait(999, ev, 0, 0), 0);
	show("wait bad epfd", epoll_wait(999, ev, 4, 0), 0);
	show("wait not epoll", epoll_wait(p[0], ev, 4, 0), 0);
	show("wait bad buffer", epoll_wait(ep, (void *)-4096L, 4, 0), 0);
	sigset_t s;
	sigemptyset(&s);
	show("pwait bad sigsetsize", syscall(SYS_epoll_pwait, ep, ev, 4, 0, &s, 4), 0);
	struct timespec bad = {0, 1000000000};
	show("pwait2 bad timespec", syscall(SYS_epoll_pwait2, ep, ev, 4, &bad, NULL, 8), 0);
	show("pwait2 timespec fault", syscall(SYS_epoll_pwait2, ep, ev, 4, (void *)8, NULL, 8), 0);
	int d = dup(ep);
	show("ctl through dup of epfd", ctl(d, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 0), 0);
	close(reg);
}

// partial: three events ready, a buffer whose third slot is unmapped: the
// wait returns 2, and the third stays queued.
static void partial(void) {
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(m + 4096, 4096, PROT_NONE);
	struct epoll_event *ev = (void *)(m + 4096 - 2 * sizeof(struct epoll_event));
	struct epoll_event out[8];
	int ep = epoll_create1(0);
	int e[3];
	for (int i = 0; i < 3; i++) {
		e[i] = eventfd(1, EFD_NONBLOCK);
		ctl(ep, EPOLL_CTL_ADD, e[i], EPOLLIN | EPOLLET, 10 + i);
	}
	show("partial", epoll_wait(ep, ev, 8, 0), ev);
	show("rest", epoll_wait(ep, out, 8, 0), out);
	show("none", epoll_wait(ep, out, 8, 0), out);
	for (int i = 0; i < 3; i++) {
		uint64_t one = 1;
		write(e[i], &one, 8);
	}
	show("first slot faults", epoll_wait(ep, (void *)(m + 4096), 8, 0), 0);
	show("all still queued", epoll_wait(ep, out, 8, 0), out);
	ctl(ep, EPOLL_CTL_MOD, e[0], EPOLLIN | EPOLLONESHOT, 20);
	show("oneshot not disarmed by a fault", epoll_wait(ep, (void *)(m + 4096), 8, 0), 0);
	show("oneshot", epoll_wait(ep, out, 8, 0), out);
}

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }

struct sigarg {
	int ep;
	int ms;
	int r, err;
};

static void *sigwaiter(void *a) {
	struct sigarg *s = a;
	struct epoll_event ev[4];
	s->r = epoll_wait(s->ep, ev, 4, s->ms);
	s->err = errno;
	return NULL;
}

// signals: a thread blocked in epoll_wait is hit by SIGUSR1 with a handler
// installed with or without SA_RESTART: Linux answers EINTR either way.
static void signals(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
	struct sigarg s = {.ep = ep, .ms = 3000};
	pthread_t t;
	pthread_create(&t, NULL, sigwaiter, &s);
	usleep(200 * 1000);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	printf("interrupted wait: %d %s handled=%d\n", s.r, s.r < 0 ? strerrorname_np(s.err) : "-", handled);
	// The next wait works normally and sees an event that arrives later.
	uint64_t one = 1;
	write(efd, &one, 8);
	struct epoll_event ev[4];
	show("next wait", epoll_wait(ep, ev, 4, 1000), ev);
}

// framerace: signals with SA_RESTART, and a SIGUSR2 handler (without it)
// for the signal the test sends while the box rewrites the SIGUSR1
// handler's frame; natively no SIGUSR2 comes.
static void on_usr2(int sig);
static void framerace(void) {
	struct sigaction sa = {.sa_handler = on_usr2};
	sigaction(SIGUSR2, &sa, NULL);
	signals(1);
}

static void *latewriter(void *a) {
	int efd = *(int *)a;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	usleep(100 * 1000);
	uint64_t one = 1;
	write(efd, &one, 8);
	return NULL;
}

// undelivered: under the box, the test interrupts the first wait of each
// part (maxevents 6 and 7) with SIGUSR1 after its events were copied out
// and before its answer: the events must still be queued, in order, the
// ONESHOT ones armed, for the wait that follows (a retry after EINTR, or
// the kernel's restart). Natively the first wait simply succeeds. In part
// 1 a level-triggered, a ONESHOT and an edge-triggered eventfd are ready
// before the wait (the box harvests inline); in part 2 a ONESHOT eventfd
// becomes ready while the wait blocks (a worker harvests).
static void undelivered(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[8];
	uint32_t modes[3] = {0, EPOLLONESHOT, EPOLLET};
	for (int part = 1; part <= 2; part++) {
		int efd[3], n = part == 1 ? 3 : 1;
		int ep = epoll_create1(0);
		for (int i = 0; i < n; i++) {
			efd[i] = eventfd(part == 1, EFD_NONBLOCK);
			ctl(ep, EPOLL_CTL_ADD, efd[i], EPOLLIN | (part == 1 ? modes[i] : EPOLLONESHOT), 10 * part + i);
		}
		pthread_t t;
		if (part == 2)
			pthread_create(&t, NULL, latewriter, &efd[0]);
		int r;
		do
			r = epoll_wait(ep, ev, 5 + part, 3000);
		while (r < 0 && errno == EINTR);
		show(part == 1 ? "ready before: first" : "ready later: first", r, ev);
		show(part == 1 ? "ready before: second" : "ready later: second", epoll_wait(ep, ev, 8, 0), ev);
		if (part == 2)
			pthread_join(t, NULL);
		for (int i = 0; i < n; i++)
			close(efd[i]);
		close(ep);
	}
}

// dropped: 20 rounds of an edge (an eventfd write) and a wait for it
// (maxevents 9, blocking, retried after EINTR); under the box, the test
// interrupts each wait with SIGUSR1 just before its answer and has the box
// take that answer as sent, as the kernel does when it drops an answer
// that came after the signal. No edge may be lost: every round's wait
// gets its event.
static void dropped(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[9];
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 3);
	int got = 0, bad = 0;
	for (int i = 0; i < 20; i++) {
		uint64_t one = 1;
		write(efd, &one, 8);
		int r;
		do
			r = epoll_wait(ep, ev, 9, 200);
		while (r < 0 && errno == EINTR);
		if (r == 1 && ev[0].data.u64 == 3)
			got++;
		else
			bad++;
	}
	printf("rounds with their event: %d, without: %d\n", got, bad);
}

// ctlsignal: under the box, the test interrupts the first EPOLL_CTL_ADD
// with SIGUSR1 after the box made the registration and before its answer:
// the guest must see 0, as on Linux, not EINTR (a handler without
// SA_RESTART) nor EEXIST (the kernel's restart of the call).
static void ctlsignal(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[4];
	int efd = eventfd(1, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	show("add", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 5), 0);
	show("add again", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 5), 0);
	show("wait", epoll_wait(ep, ev, 4, 0), ev);
}

// zerosignal: under the box, the test interrupts the answer of a
// zero-timeout epoll_wait that found an event with SIGUSR1: Linux's
// epoll_wait never returns EINTR when it does not sleep, so the guest must
// get the event, with or without SA_RESTART.
static void zerosignal(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[4];
	int efd = eventfd(1, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 5);
	show("zero wait", epoll_wait(ep, ev, 4, 0), ev);
	show("again", epoll_wait(ep, ev, 4, 0), ev);
}

// queuedpwait2: like zerosignal, with a blocking epoll_pwait2 (a 1 s
// timeout) that finds an event queued: Linux's harvests before it would
// sleep, so it never returns EINTR there either.
static void queuedpwait2(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[4];
	struct timespec ts = {1, 0};
	int efd = eventfd(1, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 5);
	show("pwait2 with an event queued", syscall(SYS_epoll_pwait2, ep, ev, 4, &ts, NULL, 8), ev);
	show("again", epoll_wait(ep, ev, 4, 0), ev);
}

// createsignal: under the box, the test interrupts the first
// epoll_create1 with SIGUSR1 just before the box installs its fd: the guest
// must still get an epoll fd, as on Linux (not EINTR, and no fd leaked).
static void createsignal(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[2];
	int lowest = dup(0);
	close(lowest);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		printf("create: -1 %s\n", strerrorname_np(errno));
		return;
	}
	printf("create: cloexec %d, the lowest free fd %d\n", (fcntl(ep, F_GETFD) & FD_CLOEXEC) != 0, ep == lowest);
	int efd = eventfd(1, EFD_NONBLOCK);
	show("add", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 3), 0);
	show("wait", epoll_wait(ep, ev, 2, 0), ev);
	printf("fds in between: %d\n", efd - ep - 1);
}

// createrace: createsignal, with a SIGUSR2 handler (without SA_RESTART)
// for the signal the test sends after the box installed the interrupted
// create's fd at the SIGUSR1 handler's rt_sigreturn and before it wrote
// the frame; natively no SIGUSR2 comes.
static void createrace(int restart) {
	struct sigaction sa = {.sa_handler = on_usr2};
	sigaction(SIGUSR2, &sa, NULL);
	createsignal(restart);
}

// bad_maxevents is -1, hidden from the compiler's check of the buffer size.
static volatile int bad_maxevents = -1;

// errsignal: under the box, the test interrupts with SIGUSR1, just
// before the box answers it (or continues it to the host), each call
// here, all of which Linux fails at once, so never with EINTR: the guest
// must see each one's errno, with or without SA_RESTART.
static void errsignal(int restart) {
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigaction(SIGUSR1, &sa, NULL);
	struct epoll_event ev[2];
	uint64_t mask = 0;
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	show("create1 with bad flags", epoll_create1(1), 0);
	show("del of a closed fd", ctl(ep, EPOLL_CTL_DEL, 12345, 0, 0), 0);
	show("ctl on an eventfd", ctl(efd, EPOLL_CTL_ADD, ep, EPOLLIN, 0), 0);
	show("blocking wait with maxevents -1", epoll_wait(ep, ev, bad_maxevents, -1), ev);
	show("blocking wait on an eventfd", epoll_wait(efd, ev, 2, -1), ev);
	show("blocking pwait2 with sigsetsize 7", syscall(SYS_epoll_pwait2, ep, ev, 2, NULL, &mask, 7), ev);
}

static volatile sig_atomic_t handled2;
static void on_usr2(int sig) { (void)sig; handled2++; }

// nestedreturn: under the box, the test interrupts the rt_sigreturn of
// the SIGUSR1 handler with SIGUSR2 (no SA_RESTART on either): natively
// rt_sigreturn cannot be interrupted, so both handlers run once and the
// program goes on; trapped, the kernel would return EINTR into the
// restorer, and the program would crash.
static void nestedreturn(void) {
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	int ep = epoll_create1(0); // makes this thread known to the box
	raise(SIGUSR1);
	printf("SIGUSR1 handled %d, survived\n", (int)handled);
	close(ep);
}

static volatile int queued_done;

static void *pauser(void *a) {
	(void)a;
	while (!queued_done)
		pause();
	return NULL;
}

// nestedqueued: like nestedreturn, but the test interrupts the second
// thread's rt_sigreturn while the box is still busy with this thread's
// epoll_ctl on fd 100, so the box never receives the interrupted
// notification: only the gap it leaves in the notification ids tells.
static void nestedqueued(void) {
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	int ep = epoll_create1(0);
	int efd = eventfd(0, EFD_NONBLOCK);
	dup2(efd, 100);
	pthread_t t;
	pthread_create(&t, NULL, pauser, NULL);
	usleep(50 * 1000);
	show("add", ctl(ep, EPOLL_CTL_ADD, 100, EPOLLIN, 1), 0);
	queued_done = 1;
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	printf("survived\n");
}

static int unseen_ep, unseen_efd;

static int unseen_r, unseen_errno;
static struct epoll_event unseen_ev[2];

// What the second thread of withdrawnctl does.
enum unseen_call { UNSEEN_CTL, UNSEEN_ZERO_WAIT, UNSEEN_QUEUED_WAIT, UNSEEN_BAD_WAIT };
static const char *unseen_names[] = {"add", "zero-timeout wait", "blocking wait with an event queued",
				     "wait with maxevents -1"};

// unseenctl makes the second thread's call; the main thread prints its
// result after the join (the order of the two threads' lines is not
// fixed under the box).
static void *unseenctl(void *a) {
	enum unseen_call call = *(enum unseen_call *)a;
	usleep(50 * 1000); // the main thread's epoll_ctl on fd 100 first
	switch (call) {
	case UNSEEN_CTL:
		unseen_r = ctl(unseen_ep, EPOLL_CTL_ADD, unseen_efd, EPOLLIN | EPOLLONESHOT, 6);
		break;
	case UNSEEN_ZERO_WAIT:
		unseen_r = epoll_wait(unseen_ep, unseen_ev, 2, 0);
		break;
	case UNSEEN_QUEUED_WAIT:
		unseen_r = epoll_wait(unseen_ep, unseen_ev, 2, 3000);
		break;
	case UNSEEN_BAD_WAIT:
		unseen_r = epoll_wait(unseen_ep, unseen_ev, bad_maxevents, -1);
		break;
	}
	unseen_errno = errno;
	return NULL;
}

// withdrawnctl: under the box, the test interrupts the second thread's
// epoll_ctl with SIGUSR1 (no SA_RESTART) while the box is still busy with
// this thread's epoll_ctl on fd 100, so the box never receives it: Linux's
// epoll_ctl cannot be interrupted, and the second thread must get 0, with
// its registration made. The other calls are waits that Linux answers
// without sleeping, so never with EINTR: one with a zero timeout that
// finds an event, a blocking one that finds an event queued, and one with
// maxevents -1 (EINVAL).
static void withdrawnctl(enum unseen_call call) {
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	unseen_ep = epoll_create1(0);
	unseen_efd = eventfd(1, EFD_NONBLOCK);
	if (call != UNSEEN_CTL)
		ctl(unseen_ep, EPOLL_CTL_ADD, unseen_efd, EPOLLIN | EPOLLONESHOT, 6);
	int efd = eventfd(0, EFD_NONBLOCK);
	dup2(efd, 100);
	pthread_t t;
	pthread_create(&t, NULL, unseenctl, &call);
	show("add", ctl(unseen_ep, EPOLL_CTL_ADD, 100, EPOLLIN, 1), 0);
	pthread_join(t, NULL);
	errno = unseen_errno;
	char what[80];
	snprintf(what, sizeof what, "second thread's %s", unseen_names[call]);
	show(what, unseen_r, call == UNSEEN_CTL ? 0 : unseen_ev);
	struct epoll_event ev[2];
	show("wait", epoll_wait(unseen_ep, ev, 2, 0), ev);
}

// stopped: a child blocked in epoll_wait is stopped and continued (no
// handler runs): Linux's epoll_wait returns EINTR, where the kernel would
// restart a trapped call.
static void stopped(void) {
	int ep = epoll_create1(0);
	int efd = eventfd(0, EFD_NONBLOCK);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
	pid_t pid = fork();
	if (pid == 0) {
		struct epoll_event ev[4];
		show("stopped wait", epoll_wait(ep, ev, 4, 2000), ev);
		_exit(0);
	}
	usleep(200 * 1000);
	kill(pid, SIGSTOP);
	usleep(100 * 1000);
	kill(pid, SIGCONT);
	int st;
	waitpid(pid, &st, 0);
}

static sigjmp_buf jumpbuf;
static void on_usr1_jump(int sig) {
	(void)sig;
	siglongjmp(jumpbuf, 1);
}

static void *kicker(void *a) {
	usleep(200 * 1000);
	pthread_kill(*(pthread_t *)a, SIGUSR1);
	return NULL;
}

// longjumped: a handler leaves a blocked epoll_wait by siglongjmp (no
// rt_sigreturn); the thread's next wait, made elsewhere, is a new call and
// gets its event.
static void longjumped(void) {
	struct sigaction sa = {.sa_handler = on_usr1_jump};
	sigaction(SIGUSR1, &sa, NULL);
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 9);
	pthread_t self = pthread_self(), t;
	pthread_create(&t, NULL, kicker, &self);
	if (sigsetjmp(jumpbuf, 1) == 0) {
		struct epoll_event ev[4];
		epoll_wait(ep, ev, 4, 3000);
		printf("not interrupted\n");
	} else {
		printf("jumped out\n");
	}
	pthread_join(t, NULL);
	uint64_t one = 1;
	write(efd, &one, 8);
	struct epoll_event ev2[2];
	show("wait elsewhere", epoll_wait(ep, ev2, 2, 1000), ev2);
}

struct mtarg {
	int ep, efd, rounds;
	long got;
};

static void *mtwaiter(void *a) {
	struct mtarg *m = a;
	struct epoll_event ev[4];
	for (int i = 0; i < m->rounds; i++) {
		int n = epoll_wait(m->ep, ev, 4, 5000);
		if (n == 1) {
			uint64_t v;
			read(m->efd, &v, 8);
			m->got += v;
		}
		// tell the driver this round is done
		uint64_t one = 1;
		write(m->efd + 1, &one, 8);
	}
	return NULL;
}

// threads: 6 threads, each blocked on its own epoll, woken 200 times each;
// every wakeup is delivered.
static void threads(void) {
	enum { N = 6, R = 200 };
	struct mtarg a[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		int efd = eventfd(0, EFD_NONBLOCK);
		int ack = eventfd(0, 0);
		if (ack != efd + 1) {
			printf("fd layout unexpected\n");
			exit(1);
		}
		a[i] = (struct mtarg){.ep = epoll_create1(0), .efd = efd, .rounds = R};
		ctl(a[i].ep, EPOLL_CTL_ADD, efd, EPOLLIN, i);
		pthread_create(&t[i], NULL, mtwaiter, &a[i]);
	}
	for (int r = 0; r < R; r++) {
		for (int i = 0; i < N; i++) {
			uint64_t one = 1;
			write(a[i].efd, &one, 8);
		}
		for (int i = 0; i < N; i++) {
			uint64_t v;
			read(a[i].efd + 1, &v, 8);
		}
	}
	long total = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		total += a[i].got;
	}
	printf("threads: delivered %ld of %d\n", total, N * R);
}

// forked: parent and child share one instance; the child blocks on it and
// the parent makes it ready.
static void forked(void) {
	int p[2];
	pipe(p);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLONESHOT, 77);
	pid_t pid = fork();
	if (pid == 0) {
		struct epoll_event ev[2];
		int n = epoll_wait(ep, ev, 2, 3000);
		_exit(n == 1 && ev[0].data.u64 == 77 ? 42 : 1);
	}
	usleep(100 * 1000);
	write(p[1], "x", 1);
	int st;
	waitpid(pid, &st, 0);
	printf("child: %d\n", WEXITSTATUS(st));
	struct epoll_event ev[2];
	show("parent after child took the oneshot", epoll_wait(ep, ev, 2, 0), ev);
}

// nestclose: closing an epoll instance that contains others takes it out
// of the nesting at once: an ADD that its depth made ELOOP is accepted
// right after the close (e0 in e1 in e2 in e3 in e4, then x into e0).
static void nestclose(void) {
	int e[5], x = epoll_create1(0);
	for (int i = 0; i < 5; i++)
		e[i] = epoll_create1(0);
	for (int i = 0; i < 4; i++)
		show("nest", ctl(e[i + 1], EPOLL_CTL_ADD, e[i], EPOLLIN, i), 0);
	show("x into e0, e4 open", ctl(e[0], EPOLL_CTL_ADD, x, EPOLLIN, 9), 0);
	close(e[4]);
	show("x into e0, e4 closed", ctl(e[0], EPOLL_CTL_ADD, x, EPOLLIN, 9), 0);
	close(e[3]);
	show("e0 into x, e3 closed", ctl(x, EPOLL_CTL_ADD, e[0], EPOLLIN, 8), 0);
	// Below the target: c0 in c1 in c2, d0 in d1 in d2, then c2 into d0.
	int c[3], d[3];
	for (int i = 0; i < 3; i++) {
		c[i] = epoll_create1(0);
		d[i] = epoll_create1(0);
	}
	for (int i = 0; i < 2; i++) {
		ctl(c[i + 1], EPOLL_CTL_ADD, c[i], EPOLLIN, i);
		ctl(d[i + 1], EPOLL_CTL_ADD, d[i], EPOLLIN, i);
	}
	show("c2 into d0, c0 open", ctl(d[0], EPOLL_CTL_ADD, c[2], EPOLLIN, 7), 0);
	close(c[0]);
	show("c2 into d0, c0 closed", ctl(d[0], EPOLL_CTL_ADD, c[2], EPOLLIN, 7), 0);
}

// pollother: a select or poll polls only the epoll instances it names
// (Linux's poll of an epoll fd drops its stale queued items; others keep
// their place). Two eventfds a (1) and b (2) are queued, a is drained
// (stale, still queued first), a poll or select runs, a is written again,
// and a wait shows the order: 1 2 when the instance was not polled.
static void pollother_round(const char *what, int kind) {
	int a = eventfd(0, EFD_NONBLOCK), b = eventfd(0, EFD_NONBLOCK), ep = epoll_create1(0);
	int p[2];
	pipe(p);
	ctl(ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
	ctl(ep, EPOLL_CTL_ADD, b, EPOLLIN, 2);
	uint64_t one = 1, v;
	write(a, &one, 8);
	write(b, &one, 8);
	read(a, &v, 8);
	fd_set r;
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	struct timeval tv = {0, 0};
	struct pollfd pf[70];
	for (int i = 0; i < 70; i++)
		pf[i] = (struct pollfd){.fd = i == 69 && kind == 3 ? ep : p[0], .events = POLLIN};
	switch (kind) {
	case 0: // select of an unrelated pipe
		select(p[0] + 1, &r, NULL, NULL, &tv);
		break;
	case 1: // select naming the instance
		FD_SET(ep, &r);
		select((ep > p[0] ? ep : p[0]) + 1, &r, NULL, NULL, &tv);
		break;
	case 2: // a poll of 70 fds, none of them the instance
		poll(pf, 70, 0);
		break;
	case 3: // a poll of 70 fds, the last the instance
		poll(pf, 70, 0);
		break;
	}
	write(a, &one, 8);
	struct epoll_event ev[4];
	show(what, epoll_wait(ep, ev, 4, 0), ev);
	close(a), close(b), close(ep), close(p[0]), close(p[1]);
}

static void pollother(void) {
	pollother_round("select of others", 0);
	pollother_round("select of the instance", 1);
	pollother_round("poll of 70 others", 2);
	pollother_round("poll of 70 with the instance", 3);
}

// deadregs: 200 files registered and closed without EPOLL_CTL_DEL, each
// at a new fd number (Linux drops a registration when its file is
// released); the waits with maxevents 13 before and after (1.3 s later)
// mark the points where the test counts the box's fds.
static void deadregs(void) {
	struct epoll_event ev[13];
	int ep = epoll_create1(0);
	show("before", epoll_wait(ep, ev, 13, 0), ev);
	for (int i = 0; i < 200; i++) {
		int efd = eventfd(1, EFD_NONBLOCK);
		dup2(efd, 300 + i);
		close(efd);
		ctl(ep, EPOLL_CTL_ADD, 300 + i, EPOLLIN, i);
		close(300 + i);
	}
	usleep(1300 * 1000);
	show("after", epoll_wait(ep, ev, 13, 0), ev);
}

// manyinstances: with 500 epoll instances open, 100 rounds of a new pipe
// added to one of them and deleted (the box's cost of a call must not
// grow with the number of instances).
static void manyinstances(void) {
	for (int i = 0; i < 500; i++)
		epoll_create1(0);
	int ep = epoll_create1(0), bad = 0;
	for (int i = 0; i < 100; i++) {
		int p[2];
		pipe(p);
		bad += ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, i) != 0;
		bad += ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0) != 0;
		close(p[0]);
		close(p[1]);
	}
	printf("failed calls: %d\n", bad);
}

// createclose: 3000 rounds of an instance made, given a registration and
// closed, at full speed; the waits with maxevents 13 before and after mark
// the points where the test counts the box's fds.
static void createclose(void) {
	struct epoll_event ev[13];
	int ep = epoll_create1(0), bad = 0;
	show("before", epoll_wait(ep, ev, 13, 0), ev);
	for (int i = 0; i < 3000; i++) {
		int e = epoll_create1(0), p[2];
		pipe(p);
		bad += ctl(e, EPOLL_CTL_ADD, p[0], EPOLLIN, i) != 0;
		close(e);
		close(p[0]);
		close(p[1]);
	}
	show("after", epoll_wait(ep, ev, 13, 0), ev);
	printf("failed calls: %d\n", bad);
}

// manyregs N: N eventfds registered in one instance (each costs the box
// two fds), then a wait for them all.
static void manyregs(int n) {
	int ep = epoll_create1(0), bad = 0;
	for (int i = 0; i < n; i++) {
		int efd = eventfd(1, EFD_NONBLOCK);
		if (efd < 0 || ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, i) != 0) {
			if (!bad++)
				printf("registration %d: %s\n", i, strerrorname_np(errno));
		}
	}
	struct epoll_event *ev = calloc(n, sizeof *ev);
	int r = epoll_wait(ep, ev, n, 0);
	printf("failed: %d, ready: %d\n", bad, r);
	int e2 = epoll_create1(0);
	show("one more instance", e2 >= 0 ? 0 : -1, 0);
}

// manyprocs P N: P child processes register N ready eventfds each, all
// held at once; then the parent makes a marker wait (maxevents 13), lets
// the children wait for their events and exit, and prints how many of them
// saw all N.
static void manyprocs(int procs, int n) {
	int registered[2], go[2];
	pipe(registered);
	pipe(go);
	for (int c = 0; c < procs; c++) {
		if (fork() != 0)
			continue;
		close(registered[0]);
		close(go[1]);
		int ep = epoll_create1(0), bad = 0;
		for (int i = 0; i < n; i++) {
			int efd = eventfd(1, EFD_NONBLOCK);
			bad += efd < 0 || ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, i) != 0;
		}
		write(registered[1], "r", 1);
		char x;
		read(go[0], &x, 1); // EOF: the parent closed it
		struct epoll_event *ev = calloc(n, sizeof *ev);
		_exit(bad == 0 && epoll_wait(ep, ev, n, 0) == n ? 0 : 1);
	}
	close(registered[1]);
	close(go[0]);
	char x;
	for (int c = 0; c < procs; c++)
		read(registered[0], &x, 1);
	struct epoll_event ev[13];
	int ep = epoll_create1(0);
	epoll_wait(ep, ev, 13, 0);
	close(go[1]);
	int ok = 0, st;
	while (wait(&st) > 0)
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("%d registrations in %d processes: %d processes saw all their events\n", procs * n, procs, ok);
}

// fullthread N: N registrations (more than the box's fds can hold when it
// cannot raise its limit), the first of a ready eventfd; then a new thread
// modifies that registration and waits. Only the thread's results are
// printed: natively its MOD succeeds and its wait sees the eventfd, and so
// must they under a box that is out of fds (its pidfd for the thread cannot
// be opened: the calls were continued on the placeholder, a host epoll
// holding only the doorbell).
// With T (fullthread N T), T threads do so one after another, each alive
// until all have (more threads than the box keeps fds in reserve for their
// pidfds), and only the number of failures is printed.
static int fullthread_ep, fullthread_efd, fullthread_bad;
static char fullthread_first[128]; // the first failure, for the report
static pthread_barrier_t fullthread_done;
static pthread_mutex_t fullthread_turn = PTHREAD_MUTEX_INITIALIZER;

static void *fullthread_thread(void *arg) {
	struct epoll_event ev[4];
	pthread_mutex_lock(&fullthread_turn);
	int r = ctl(fullthread_ep, EPOLL_CTL_MOD, fullthread_efd, EPOLLIN, 78);
	int w = epoll_wait(fullthread_ep, ev, 4, 0);
	if (!arg) {
		printf("thread mod: %s\n", r ? strerrorname_np(errno) : "0");
		show("thread wait", w, ev);
	} else if (r != 0 || w != 1 || ev[0].data.u64 != 78) {
		if (fullthread_bad++ == 0)
			snprintf(fullthread_first, sizeof fullthread_first, "first failure: mod %d %s, wait %d %s, data %llu\n",
				 r, r ? strerrorname_np(errno) : "", w, w < 0 ? strerrorname_np(errno) : "",
				 w > 0 ? (unsigned long long)ev[0].data.u64 : 0ULL);
	}
	pthread_mutex_unlock(&fullthread_turn);
	if (arg)
		pthread_barrier_wait(&fullthread_done);
	return NULL;
}

static void fullthread(int n, int threads) {
	fullthread_ep = epoll_create1(0);
	fullthread_efd = eventfd(1, EFD_NONBLOCK);
	ctl(fullthread_ep, EPOLL_CTL_ADD, fullthread_efd, EPOLLIN, 77);
	for (int i = 0; i < n; i++) {
		int efd = eventfd(0, EFD_NONBLOCK);
		if (efd < 0 || ctl(fullthread_ep, EPOLL_CTL_ADD, efd, EPOLLIN, i) != 0)
			break;
	}
	if (threads == 0) {
		pthread_t th;
		pthread_create(&th, NULL, fullthread_thread, NULL);
		pthread_join(th, NULL);
		return;
	}
	pthread_t *th = calloc(threads, sizeof *th);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	pthread_barrier_init(&fullthread_done, NULL, threads);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], &attr, fullthread_thread, &th[i]);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("threads: %d, failed: %d\n%s", threads, fullthread_bad, fullthread_first);
}

// wakekeys: an edge-triggered registration is re-queued by a wakeup whose
// key (Linux's, of the file's type) meets its events, whatever the file's
// readiness. A socket's data arrival (IN|PRI|RDNORM|RDBAND) re-fires one
// for PRI|WRNORM; an eventfd write of 0 (key IN) does not re-fire one for
// OUT|RDHUP.
static void wakekeys(void) {
	struct epoll_event ev[2];
	int sv[2], ep = epoll_create1(0), efd = eventfd(0, EFD_NONBLOCK);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	ctl(ep, EPOLL_CTL_ADD, sv[0], EPOLLPRI | EPOLLWRNORM | EPOLLET, 1);
	show("socket first", epoll_wait(ep, ev, 2, 0), ev);
	show("socket again", epoll_wait(ep, ev, 2, 0), ev);
	write(sv[1], "x", 1);
	show("socket after data", epoll_wait(ep, ev, 2, 0), ev);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLOUT | EPOLLRDHUP | EPOLLET, 2);
	show("eventfd first", epoll_wait(ep, ev, 2, 0), ev);
	uint64_t zero = 0;
	write(efd, &zero, 8);
	show("eventfd after a write of 0", epoll_wait(ep, ev, 2, 0), ev);
}

// closing: a registration does not keep the file open.
static void closing(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	int ep = epoll_create1(0);
	struct epoll_event ev[4];
	show("add", ctl(ep, EPOLL_CTL_ADD, sv[0], EPOLLIN, 100), 0);
	close(sv[0]);
	char c;
	int r = read(sv[1], &c, 1);
	printf("peer sees EOF: %d\n", r);
	show("closed fd not reported", epoll_wait(ep, ev, 4, 0), ev);
	int e = eventfd(1, 0);
	printf("fd reused: %d\n", e == sv[0]);
	show("add reused", ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN, 200), 0);
	show("reused fires", epoll_wait(ep, ev, 4, 0), ev);
	int d = dup(e);
	close(e);
	show("survives close while a dup exists", epoll_wait(ep, ev, 4, 0), ev);
	show("del through the dup", ctl(ep, EPOLL_CTL_DEL, d, 0, 0), 0);
}

// stale: a wakeup queues an entry even if the file is drained before the
// next epoll call (Linux keeps it queued, stale, in its place), many times
// over with fresh files: prints the rounds whose order was not Linux's.
static void stale(void) {
	int bad = 0;
	for (int i = 0; i < 600; i++) {
		int p[2];
		pipe2(p, O_NONBLOCK);
		int e = eventfd(0, EFD_NONBLOCK);
		int ep = epoll_create1(0);
		struct epoll_event out[8];
		int r = ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1) | ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN, 2);
		write(p[1], "x", 1);
		uint64_t one = 1;
		write(e, &one, 8);
		char c;
		read(p[0], &c, 1);
		r |= ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 1);
		write(p[1], "x", 1);
		int n = epoll_wait(ep, out, 8, 0);
		if (r != 0 || n != 2 || out[0].data.u64 != 1 || out[1].data.u64 != 2)
			bad++;
		close(p[0]);
		close(p[1]);
		close(e);
		close(ep);
	}
	printf("stale: %d rounds out of order\n", bad);
}

// daemon PATH: the guest forks a daemon and exits at once; the daemon,
// its output redirected to PATH, goes on after its parent has exited: a
// handled signal (its handler's return is trapped), then an epoll
// instance.
static void daemon_(const char *path) {
	pid_t pid = fork();
	if (pid != 0) {
		printf("parent exits\n");
		return;
	}
	setsid();
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(out, 1);
	dup2(out, 2);
	close(out);
	usleep(300 * 1000); // the parent has exited by now
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	printf("handled %d\n", (int)handled);
	struct epoll_event ev[2];
	int ep = epoll_create1(0), efd = eventfd(1, EFD_NONBLOCK);
	show("add", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 4), 0);
	show("wait", epoll_wait(ep, ev, 2, 0), ev);
	printf("done\n");
	_exit(0);
}

// idle: a guest that sleeps (2.2 s) after making an epoll instance; the
// box must sleep too (the test measures the supervisor's CPU time).
static void idle(void) {
	int ep = epoll_create1(0);
	struct timespec t = {.tv_sec = 2, .tv_nsec = 200 * 1000 * 1000};
	nanosleep(&t, NULL);
	printf("slept, ep %d\n", ep >= 0);
}

// uringctl registers efd in ep through io_uring's EPOLL_CTL operation on
// ring, as libuv does, and returns the operation's result (-errno).
static int uringctl(int ring, struct io_uring_params *p, int ep, int efd, struct epoll_event *ev) {
	size_t sqsz = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	size_t cqsz = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (sqsz < cqsz)
		sqsz = cqsz; // one mapping holds both rings (IORING_FEAT_SINGLE_MMAP)
	char *sq = mmap(NULL, sqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p->sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || sqes == MAP_FAILED || !(p->features & IORING_FEAT_SINGLE_MMAP))
		return -ENOMEM;
	unsigned *tail = (unsigned *)(sq + p->sq_off.tail), mask = *(unsigned *)(sq + p->sq_off.ring_mask);
	unsigned t = *tail, i = t & mask;
	memset(&sqes[i], 0, sizeof sqes[i]);
	sqes[i].opcode = IORING_OP_EPOLL_CTL;
	sqes[i].fd = ep;
	sqes[i].off = efd;
	sqes[i].addr = (uint64_t)(uintptr_t)ev;
	sqes[i].len = EPOLL_CTL_ADD;
	((unsigned *)(sq + p->sq_off.array))[i] = i;
	__atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned head = *(unsigned *)(sq + p->cq_off.head), cmask = *(unsigned *)(sq + p->cq_off.ring_mask);
	return ((struct io_uring_cqe *)(sq + p->cq_off.cqes))[head & cmask].res;
}

// uring: like libuv, register a file through io_uring when the kernel
// offers it, through epoll_ctl otherwise; the wait must see the file
// either way (under the box, io_uring_setup fails with ENOSYS: the box
// cannot see io_uring's operations).
static void uring(void) {
	int efd = eventfd(1, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7}, out[2];
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	int ring = syscall(__NR_io_uring_setup, 4, &p), r;
	if (ring >= 0)
		r = uringctl(ring, &p, ep, efd, &ev);
	else if (errno == ENOSYS)
		r = epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) ? -errno : 0;
	else
		r = -errno; // libuv falls back only on ENOSYS
	printf("add: %d\n", r);
	show("wait", epoll_wait(ep, out, 2, 0), out);
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// bench N: the cost of an epoll_ctl MOD, of an epoll_wait with a zero
// timeout, of a handled signal and of a bare trapped call (a poll of no fds:
// under the box, a notification received and continued with nothing else
// done), each the
// mean per call of the fastest of ten blocks of N/10 calls (the machine is
// shared: the fastest block is the one least disturbed).
#define BENCH_BLOCKS 10

static double bench_block(int what, int m, int ep, int efd) {
	struct epoll_event ev[4];
	double t0 = now_ns();
	for (int i = 0; i < m; i++) {
		switch (what) {
		case 0:
			ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN, i);
			break;
		case 1:
			epoll_wait(ep, ev, 4, 0);
			break;
		case 2:
			raise(SIGUSR1); // the handler's return (rt_sigreturn) is trapped
			break;
		default:
			poll(NULL, 0, 0);
		}
	}
	return (now_ns() - t0) / m;
}

static void bench(int n) {
	int m = n / BENCH_BLOCKS > 0 ? n / BENCH_BLOCKS : 1;
	double best[4] = {1e18, 1e18, 1e18, 1e18};
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	for (int b = 0; b < BENCH_BLOCKS; b++)
		for (int w = 0; w < 4; w++) {
			double t = bench_block(w, m, ep, efd);
			if (t < best[w])
				best[w] = t;
		}
	printf("%.0f %.0f %.0f %.0f\n", best[0], best[1], best[2], best[3]);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	const char *s = argv[1];
	if (!strcmp(s, "triggers"))
		triggers();
	else if (!strcmp(s, "errnos"))
		errnos();
	else if (!strcmp(s, "partial"))
		partial();
	else if (!strcmp(s, "signals"))
		signals(0);
	else if (!strcmp(s, "signals-restart"))
		signals(1);
	else if (!strcmp(s, "framerace"))
		framerace();
	else if (!strcmp(s, "undelivered"))
		undelivered(0);
	else if (!strcmp(s, "undelivered-restart"))
		undelivered(1);
	else if (!strcmp(s, "dropped"))
		dropped(0);
	else if (!strcmp(s, "dropped-restart"))
		dropped(1);
	else if (!strcmp(s, "ctlsignal"))
		ctlsignal(0);
	else if (!strcmp(s, "ctlsignal-restart"))
		ctlsignal(1);
	else if (!strcmp(s, "zerosignal"))
		zerosignal(0);
	else if (!strcmp(s, "zerosignal-restart"))
		zerosignal(1);
	else if (!strcmp(s, "queuedpwait2"))
		queuedpwait2(0);
	else if (!strcmp(s, "queuedpwait2-restart"))
		queuedpwait2(1);
	else if (!strcmp(s, "createsignal"))
		createsignal(0);
	else if (!strcmp(s, "createsignal-restart"))
		createsignal(1);
	else if (!strcmp(s, "createrace"))
		createrace(0);
	else if (!strcmp(s, "createrace-restart"))
		createrace(1);
	else if (!strcmp(s, "nestedreturn"))
		nestedreturn();
	else if (!strcmp(s, "nestedqueued"))
		nestedqueued();
	else if (!strcmp(s, "withdrawnctl"))
		withdrawnctl(UNSEEN_CTL);
	else if (!strcmp(s, "withdrawnwait"))
		withdrawnctl(UNSEEN_ZERO_WAIT);
	else if (!strcmp(s, "withdrawnqueued"))
		withdrawnctl(UNSEEN_QUEUED_WAIT);
	else if (!strcmp(s, "withdrawnbad"))
		withdrawnctl(UNSEEN_BAD_WAIT);
	else if (!strcmp(s, "errsignal"))
		errsignal(0);
	else if (!strcmp(s, "errsignal-restart"))
		errsignal(1);
	else if (!strcmp(s, "longjumped"))
		longjumped();
	else if (!strcmp(s, "stopped"))
		stopped();
	else if (!strcmp(s, "threads"))
		threads();
	else if (!strcmp(s, "forked"))
		forked();
	else if (!strcmp(s, "wakekeys"))
		wakekeys();
	else if (!strcmp(s, "manyregs") && argc > 2)
		manyregs(atoi(argv[2]));
	else if (!strcmp(s, "manyprocs") && argc > 3)
		manyprocs(atoi(argv[2]), atoi(argv[3]));
	else if (!strcmp(s, "fullthread") && argc > 2)
		fullthread(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 0);
	else if (!strcmp(s, "createclose"))
		createclose();
	else if (!strcmp(s, "manyinstances"))
		manyinstances();
	else if (!strcmp(s, "deadregs"))
		deadregs();
	else if (!strcmp(s, "pollother"))
		pollother();
	else if (!strcmp(s, "nestclose"))
		nestclose();
	else if (!strcmp(s, "closing"))
		closing();
	else if (!strcmp(s, "exit"))
		return atoi(argv[2]);
	else if (!strcmp(s, "sleep"))
		pause();
	else if (!strcmp(s, "daemon") && argc > 2)
		daemon_(argv[2]);
	else if (!strcmp(s, "idle"))
		idle();
	else if (!strcmp(s, "uring"))
		uring();
	else if (!strcmp(s, "stale"))
		stale();
	else if (!strcmp(s, "bench"))
		bench(atoi(argv[2]));
	else if (!strcmp(s, "raise"))
		raise(SIGTERM);
	else
		return 2;
	return 0;
}

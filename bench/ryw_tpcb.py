#!/usr/bin/env python3
"""TPC-B through two pgrouters on one cluster, read_your_writes = off and lsn, alternating; TPS and CPU per transaction.

Needs: tests/harness/cluster.py start --dir /tmp/rb --replicas 2 --port 16300; pgbench -i -s 10 (port 16300);
/tmp/rb-off.ini and /tmp/rb-lsn.ini (listen ports 16400/16401, pool_mode = transaction, default_pool_size = 20,
replicas = both, read_your_writes = off / lsn). usage: bench/ryw_tpcb.py [seconds] [rounds]"""
import os, re, subprocess, sys, time
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
import cluster as h
def cpu(pid, ch=True):
    try: s=open(f"/proc/{pid}/stat").read()
    except OSError: return 0
    f=[int(x) for x in s[s.rindex(")")+2:].split()[11:15]]
    return sum(f if ch else f[:2])/os.sysconf("SC_CLK_TCK")
def tree(pid): return sum(cpu(p) for p in h.process_tree(pid))
pm=int(open("/tmp/rb/primary/data/postmaster.pid").readline())
procs={m: subprocess.Popen([os.path.join(REPO, "build", "pgrouter"), f"/tmp/rb-{m}.ini"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for m in ("off","lsn")}
time.sleep(1.5)
ports={"off":16400,"lsn":16401}
secs=int(sys.argv[1]) if len(sys.argv)>1 else 10
for rnd in range(int(sys.argv[2]) if len(sys.argv)>2 else 2):
  for m in ("off","lsn"):
    p0=tree(pm); r0=cpu(procs[m].pid, False)
    out=subprocess.run(["pgbench","-n","-c","16","-j","2","-T",str(secs),"-h","127.0.0.1","-p",str(ports[m]),"-U","postgres","postgres"],capture_output=True,text=True).stdout
    p1=tree(pm); r1=cpu(procs[m].pid, False)
    tps=float(re.search(r"tps = ([0-9.]+)",out).group(1)); n=int(re.search(r"processed: (\d+)",out).group(1))
    print(f"{m}: tps {tps:.0f}  primary CPU/txn {1e6*(p1-p0)/n:.0f} us  pgrouter CPU/txn {1e6*(r1-r0)/n:.0f} us", flush=True)
for p in procs.values(): p.terminate()

# Replication lag as a client sees it: SET on a master, then GET on its replica until the
# value shows; 300 writes 3 ms apart. Usage: python3 benches/scripts/replica_lag.py BIN|redis
# (BIN: a ringkv binary, run with two threads; redis: redis-server from PATH).
import socket, subprocess, sys, tempfile, time
def free():
    s=socket.socket(); s.bind(('127.0.0.1',0)); p=s.getsockname()[1]; s.close(); return p
def cmd(s,*a):
    s.sendall(b''.join([b'*%d\r\n'%len(a)]+[b'$%d\r\n%s\r\n'%(len(x),x) for x in a]))
    d=s.recv(65536)
    return d
def start(binary, port, extra):
    if binary=='redis':
        return subprocess.Popen(['redis-server','--port',str(port),'--save','','--dir',tempfile.mkdtemp(),'--repl-diskless-sync-delay','0']+extra,stdout=subprocess.DEVNULL)
    return subprocess.Popen([binary,'--port',str(port),'--save','','--threads','2','--repl-diskless-sync-delay','0']+extra,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
def conn(p):
    for _ in range(300):
        try: return socket.create_connection(('127.0.0.1',p))
        except Exception: time.sleep(0.02)
binary=sys.argv[1]
mp,rp=free(),free()
m=start(binary,mp,[]); 
mc=conn(mp)
r=start(binary,rp,['--replicaof','127.0.0.1',str(mp)]); rc=conn(rp)
try:
    while b'master_link_status:up' not in cmd(rc,b'INFO',b'replication'): time.sleep(0.05)
    lat=[]
    for i in range(300):
        v=b'%d'%i
        cmd(mc,b'SET',b'k',v)
        t=time.perf_counter(); polls=0
        while True:
            polls+=1
            if cmd(rc,b'GET',b'k')==b'$%d\r\n%s\r\n'%(len(v),v): break
        lat.append((time.perf_counter()-t)*1e6)
        time.sleep(0.003)
    lat.sort()
    print(binary, 'visible on replica after SET reply: median %.0f us p90 %.0f us max %.0f us'%(lat[len(lat)//2], lat[int(len(lat)*.9)], lat[-1]))
finally:
    m.kill(); r.kill()

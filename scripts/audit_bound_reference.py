# Reference values for dpsgd-runtime/src/privacy/audit.rs: the one-run audit bound of
# Steinke, Nasr, Jagielski (2023, Theorem 3.1 with delta), computed with scipy.
import numpy as np
from scipy.stats import binom
from scipy.optimize import brentq
def pval(m,k,v,eps,delta):
    p=1/(1+np.exp(-eps))
    beta=binom.sf(v-1,k,p)
    if delta==0: return min(beta,1)
    a=0.0
    for i in range(1,v+1):
        a=max(a,(binom.sf(v-i-1,k,p)-beta)/i)
    return min(beta+a*2*m*delta,1)
def bound(m,k,v,delta,sig=0.05):
    f=lambda e: sig-pval(m,k,v,e,delta)
    if f(0)<0: return 0.0
    hi=1.0
    while f(hi)>0: hi*=2
    return brentq(f,0,hi,xtol=1e-12)
for args in [(1000,100,90,0.0),(1000,100,90,1e-5),(10000,1000,800,1e-5),(200,50,50,1e-3),(1000,100,60,1e-5)]:
    print(args, "%.7f"%bound(*args))

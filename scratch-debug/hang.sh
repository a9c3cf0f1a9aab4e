cd /work/main
npx tsx scratch-debug/cap0.ts 0 > /tmp/out.txt 2>&1 &
sleep 45
P=$(pgrep -f "cap0.ts 0" | tail -1)
echo "pid $P"; cat /tmp/out.txt
for t in /proc/$P/task/*; do echo "== $t $(cat $t/comm) state=$(awk '{print $3}' $t/stat) wchan=$(cat $t/wchan)"; cat $t/stack 2>/dev/null | head -8; done
kill -9 $P

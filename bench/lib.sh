# Shared helpers for the load scripts in bench/ (sourced, not run).

# wait_up HOST PORT: wait up to 10 s for something to listen there.
wait_up() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens at $1:$2" >&2
  exit 1
}

# cpu_ticks PID: the CPU time PID has used so far (user and system, utime +
# stime from /proc/PID/stat), in clock ticks (getconf CLK_TCK a second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

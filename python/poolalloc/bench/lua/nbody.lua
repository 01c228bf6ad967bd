-- group: compute
-- nbody.lua -- compute only: the n-body simulation of the Jovian planets
-- (the classic benchmark) on preallocated body records.  Arg 1 scales the
-- steps.  The energy must start at -0.169075164 and be conserved to 1e-4,
-- else an error is raised.
local scale = tonumber(arg and arg[1]) or 1
local sqrt = math.sqrt
-- A body's fields are array slots, not string keys: the VM's field lookups
-- then do not depend on where the keys' hashes (seeded afresh each run)
-- fall, which moved this workload by 2% from run to run, stock or not.
local X <const>, Y <const>, Z <const>, VX <const>, VY <const>, VZ <const>, MASS <const> = 1, 2, 3, 4, 5, 6, 7
local PI = math.pi
local SOLAR_MASS = 4 * PI * PI
local DAYS = 365.24
local bodies = {
  { 0, 0, 0, 0, 0, 0, SOLAR_MASS },
  { 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
    1.66007664274403694e-03 * DAYS, 7.69901118419740425e-03 * DAYS, -6.90460016972063023e-05 * DAYS,
    9.54791938424326609e-04 * SOLAR_MASS },
  { 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
    -2.76742510726862411e-03 * DAYS, 4.99852801234917238e-03 * DAYS, 2.30417297573763929e-05 * DAYS,
    2.85885980666130812e-04 * SOLAR_MASS },
  { 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
    2.96460137564761618e-03 * DAYS, 2.37847173959480950e-03 * DAYS, -2.96589568540237556e-05 * DAYS,
    4.36624404335156298e-05 * SOLAR_MASS },
  { 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
    2.68067772490389322e-03 * DAYS, 1.62824170038242295e-03 * DAYS, -9.51592254519715870e-05 * DAYS,
    5.15138902046611451e-05 * SOLAR_MASS },
}
local nb = #bodies

local function advance(dt)
  for i = 1, nb do
    local bi = bodies[i]
    local bix, biy, biz, bimass = bi[X], bi[Y], bi[Z], bi[MASS]
    local bivx, bivy, bivz = bi[VX], bi[VY], bi[VZ]
    for j = i + 1, nb do
      local bj = bodies[j]
      local dx, dy, dz = bix - bj[X], biy - bj[Y], biz - bj[Z]
      local d2 = dx * dx + dy * dy + dz * dz
      local mag = dt / (d2 * sqrt(d2))
      local bm = bj[MASS] * mag
      bivx, bivy, bivz = bivx - dx * bm, bivy - dy * bm, bivz - dz * bm
      bm = bimass * mag
      bj[VX], bj[VY], bj[VZ] = bj[VX] + dx * bm, bj[VY] + dy * bm, bj[VZ] + dz * bm
    end
    bi[VX], bi[VY], bi[VZ] = bivx, bivy, bivz
    bi[X], bi[Y], bi[Z] = bix + dt * bivx, biy + dt * bivy, biz + dt * bivz
  end
end

local function energy()
  local e = 0
  for i = 1, nb do
    local b = bodies[i]
    e = e + 0.5 * b[MASS] * (b[VX] * b[VX] + b[VY] * b[VY] + b[VZ] * b[VZ])
    for j = i + 1, nb do
      local c = bodies[j]
      local dx, dy, dz = b[X] - c[X], b[Y] - c[Y], b[Z] - c[Z]
      e = e - b[MASS] * c[MASS] / sqrt(dx * dx + dy * dy + dz * dz)
    end
  end
  return e
end

local function offset()
  local px, py, pz = 0, 0, 0
  for i = 1, nb do
    local b = bodies[i]
    px, py, pz = px + b[VX] * b[MASS], py + b[VY] * b[MASS], pz + b[VZ] * b[MASS]
  end
  bodies[1][VX], bodies[1][VY], bodies[1][VZ] = -px / SOLAR_MASS, -py / SOLAR_MASS, -pz / SOLAR_MASS
end

offset()
local e0 = energy()
if string.format("%.9f", e0) ~= "-0.169075164" then error("n-body initial energy " .. e0) end
local steps = math.floor(300000 * scale)
for _ = 1, steps do advance(0.01) end
local e1 = energy()
if math.abs(e1 - e0) > 1e-4 then error(("n-body energy drifted: %.9f -> %.9f"):format(e0, e1)) end
return math.floor(-e1 * 1e9)

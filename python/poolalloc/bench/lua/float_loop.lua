-- group: compute
-- float_loop.lua -- compute only: a Mandelbrot fractal over a grid that is
-- symmetric about the real axis, in float arithmetic on locals; allocates
-- nothing in the loop.  Arg 1 scales the passes.  The upper and lower
-- halves must hold the same count of points, and every pass the same
-- total, else an error is raised.
local scale = tonumber(arg and arg[1]) or 1
local W, H, ITER = 160, 120, 60          -- H even: row y mirrors row H - 1 - y
local function pass()
  local upper, lower = 0, 0
  for y = 0, H - 1 do
    local ci = (y + 0.5) * 2.4 / H - 1.2
    for x = 0, W - 1 do
      local cr = x * 3.2 / W - 2.2
      local zr, zi, n = 0.0, 0.0, 0
      while n < ITER and zr * zr + zi * zi <= 4.0 do
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
        n = n + 1
      end
      if y < H // 2 then upper = upper + n else lower = lower + n end
    end
  end
  if upper ~= lower then error(("mandelbrot halves differ: %d vs %d"):format(upper, lower)) end
  return upper + lower
end
local passes = math.max(1, math.floor(50 * scale))
local first = pass()
for _ = 2, passes do
  if pass() ~= first then error("mandelbrot passes differ") end
end
return first * passes

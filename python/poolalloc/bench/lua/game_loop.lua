-- group: program
-- game_loop.lua -- a long-running game-loop script with a steady heap:
-- every frame spawns entities with components (position, velocity, a tag
-- list), moves them, makes per-frame event and message tables, collides
-- them on a grid of buckets rebuilt each frame, and retires the ones whose
-- lifetime ended.  After warm-up the population is constant.  Arg 1 scales
-- the frames; the population, the hit points lost per hit event and a bounded heap are
-- checked, else an error is raised.
local scale = tonumber(arg and arg[1]) or 1
local SPAWN, LIFE, CELL = 40, 50, 8
local frames = math.floor(500 * scale)
local entities, nextid = {}, 0
local hits, damage, heap_max, heap_warm = 0, 0, 0, nil

local function spawn(frame, k)
  nextid = nextid + 1
  local a = (nextid * 7919) % 360 * math.pi / 180
  return { id = nextid, born = frame, pos = { x = k * 3.0, y = (nextid % 64) * 1.5 },
           vel = { x = math.cos(a), y = math.sin(a) }, tags = { "mob", k % 2 == 0 and "red" or "blue" }, hp = 3 }
end

for frame = 1, frames do
  for k = 1, SPAWN do entities[#entities + 1] = spawn(frame, k) end
  local grid, events = {}, {}
  for _, e in ipairs(entities) do
    local p, v = e.pos, e.vel
    p.x, p.y = (p.x + v.x) % 128, (p.y + v.y) % 128
    local key = (p.x // CELL) * 16 + p.y // CELL
    local cell = grid[key]
    if cell then
      local other = cell[#cell]
      if other.tags[2] ~= e.tags[2] then
        events[#events + 1] = { kind = "hit", a = e.id, b = other.id, msg = "hit " .. e.id .. ">" .. other.id }
        e.hp = e.hp - 1
      end
      cell[#cell + 1] = e
    else
      grid[key] = { e }
    end
  end
  hits = hits + #events
  -- Retire the old: a new list of survivors (the heap holds LIFE frames of them).
  local alive = {}
  for _, e in ipairs(entities) do
    if frame - e.born < LIFE - 1 then alive[#alive + 1] = e else damage = damage + 3 - e.hp end
  end
  entities = alive
  if frame >= LIFE and #entities ~= SPAWN * (LIFE - 1) then
    error(("frame %d: %d entities, expected %d"):format(frame, #entities, SPAWN * (LIFE - 1)))
  end
  if frame % 10 == 0 then
    local kb = collectgarbage("count")
    if frame == 100 then heap_warm = kb end
    if frame > 100 then heap_max = math.max(heap_max, kb) end
  end
end
-- Steady: after warm-up the heap never grows past twice its size then.
if heap_warm and heap_max > 2 * heap_warm + 256 then
  error(("heap grew from %.0f KiB to %.0f KiB"):format(heap_warm, heap_max))
end
-- Every hit event took one hit point from one entity, retired or alive.
for _, e in ipairs(entities) do damage = damage + 3 - e.hp end
if damage ~= hits then error(("%d hit events but %d hit points lost"):format(hits, damage)) end
return hits + nextid

-- group: program
-- template.lua -- a string-builder templating engine: templates with
-- {{name}}, {{a.b}} lookups, {{#list}}...{{/list}} sections and
-- {{!escape}} HTML escaping are compiled once into a list of parts and
-- rendered many times into table buffers joined by table.concat.  Arg 1
-- scales the renders; each page is checked against the same page built
-- directly with string.format, else an error is raised.
local scale = tonumber(arg and arg[1]) or 1
local concat, format = table.concat, string.format

local html = { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;" }
local function escape(s) return (tostring(s):gsub('[<>&"]', html)) end

-- Compile a template into parts: strings, {var=path}, {esc=path} and
-- {section=name, body=parts}.
local function compile(src)
  local parts, pos, stack = {}, 1, {}
  local cur = parts
  while true do
    local s, e, tag = src:find("{{(.-)}}", pos)
    if not s then break end
    if s > pos then cur[#cur + 1] = src:sub(pos, s - 1) end
    local kind, name = tag:sub(1, 1), tag:sub(2)
    if kind == "#" then
      local sec = { section = name, body = {} }
      cur[#cur + 1] = sec
      stack[#stack + 1] = cur
      cur = sec.body
    elseif kind == "/" then
      cur = table.remove(stack)
    elseif kind == "!" then
      cur[#cur + 1] = { esc = name }
    else
      cur[#cur + 1] = { var = tag }
    end
    pos = e + 1
  end
  if pos <= #src then cur[#cur + 1] = src:sub(pos) end
  assert(#stack == 0, "unclosed section")
  return parts
end

local function lookup(ctx, path)
  local v = ctx
  for key in path:gmatch("[^.]+") do v = v[key] end
  return v
end

local function render(parts, ctx, out)
  for i = 1, #parts do
    local p = parts[i]
    if type(p) == "string" then
      out[#out + 1] = p
    elseif p.var then
      out[#out + 1] = tostring(lookup(ctx, p.var))
    elseif p.esc then
      out[#out + 1] = escape(lookup(ctx, p.esc))
    else
      for _, item in ipairs(lookup(ctx, p.section)) do render(p.body, item, out) end
    end
  end
  return out
end

local page = compile([[
<html><head><title>{{!title}}</title></head><body>
<h1>{{user.name}} ({{user.id}})</h1>
<ul>{{#items}}<li class="{{kind}}">{{!label}}: {{price}} x {{qty}}</li>
{{/items}}</ul>
<p>Total: {{total}}</p></body></html>
]])

-- The same page without the engine.
local function direct(ctx)
  local b = { format("<html><head><title>%s</title></head><body>\n<h1>%s (%s)</h1>\n<ul>",
    escape(ctx.title), ctx.user.name, ctx.user.id) }
  for _, it in ipairs(ctx.items) do
    b[#b + 1] = format('<li class="%s">%s: %s x %s</li>\n', it.kind, escape(it.label), it.price, it.qty)
  end
  b[#b + 1] = format("</ul>\n<p>Total: %s</p></body></html>\n", ctx.total)
  return concat(b)
end

local renders = math.floor(6000 * scale)
local bytes = 0
for r = 1, renders do
  local items, total = {}, 0
  for i = 1, 5 + r % 20 do
    local price = (r * 31 + i * 7) % 500 / 4
    items[i] = { kind = i % 2 == 0 and "even" or "odd", label = "Item <" .. i .. "> & \"" .. r .. '"',
                 price = price, qty = i % 4 + 1 }
    total = total + price * (i % 4 + 1)
  end
  local ctx = { title = "Order #" .. r .. " <draft>", user = { name = "Customer " .. r % 97, id = r },
                items = items, total = total }
  local text = concat(render(page, ctx, {}))
  if text ~= direct(ctx) then error("template render differs for page " .. r) end
  bytes = bytes + #text
end
return bytes

# lua_vm.cmake -- make lua_vm.o: Debian's liblua5.4.a objects linked (ld -r)
# in the order the stock lua5.4 binary has them, behind a pad so that, with
# the object's code aligned to 4 KiB, every Lua function lands at the same
# offset within its page as in /usr/bin/lua5.4.  poollua then runs the same
# VM code at the same page and cache-line offsets as stock Lua, whatever
# libpool's code looks like (issue 16).
#
# cmake -DARCHIVE=liblua5.4.a -DSTOCK=/usr/bin/lua5.4 -DOUT=lua_vm.o
#       -DWORK=dir -DCC=cc -DLD=ld -DOBJCOPY=objcopy -DNM=nm -DAR=ar -P lua_vm.cmake

# The order in which ld pulls the archive's members for lua.c: lua.c needs
# the API (pass 1: lapi to lzio, lauxlib, linit), linit then needs the
# libraries (pass 2).  Read off the stock binary's exported symbols; the
# test test_poollua_vm_at_stock_offsets checks every one of them.
set(ORDER lapi ldebug ldo ldump lfunc lgc lmem lobject lopcodes lparser lstate lstring ltable ltm lundump
    lvm lzio lauxlib linit lcode lctype llex lbaselib lcorolib ldblib liolib lmathlib loadlib loslib lstrlib
    ltablib lutf8lib)

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${AR} x ${ARCHIVE} WORKING_DIRECTORY ${WORK} COMMAND_ERROR_IS_FATAL ANY)

# Where lapi.o's code starts in the stock binary, from lua_checkstack's
# address there and its offset in lapi.o.
execute_process(COMMAND ${NM} -D --defined-only ${STOCK} OUTPUT_VARIABLE stock_syms COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${NM} --defined-only ${WORK}/lapi.o OUTPUT_VARIABLE lapi_syms COMMAND_ERROR_IS_FATAL ANY)
# A stock binary that links liblua5.4.so instead has no Lua code to match:
# then the objects keep their order and page alignment, without the pad.
string(REGEX MATCH "([0-9a-f]+) T lua_checkstack@" m "${stock_syms}")
set(stock_at "0x${CMAKE_MATCH_1}")
string(REGEX MATCH "([0-9a-f]+) T lua_checkstack\n" m2 "${lapi_syms}")
set(obj_at "0x${CMAKE_MATCH_1}")
if(m AND m2)
  math(EXPR pad "(${stock_at} - ${obj_at}) % 4096")
else()
  message(WARNING "lua_vm.cmake: ${STOCK} does not carry Lua's code; poollua's Lua is page-aligned, not at stock offsets")
  set(pad 0)
endif()

# lcode.o follows linit.o in the stock binary without alignment padding.
execute_process(COMMAND ${OBJCOPY} --set-section-alignment .text=1 ${WORK}/lcode.o COMMAND_ERROR_IS_FATAL ANY)

file(WRITE ${WORK}/pad.s ".text\n.fill ${pad}, 1, 0xcc\n.section .note.GNU-stack,\"\",@progbits\n")
execute_process(COMMAND ${CC} -c -o ${WORK}/pad.o ${WORK}/pad.s COMMAND_ERROR_IS_FATAL ANY)
set(objs ${WORK}/pad.o)
foreach(o IN LISTS ORDER)
  list(APPEND objs ${WORK}/${o}.o)
endforeach()
execute_process(COMMAND ${LD} -r -o ${OUT}.tmp ${objs} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${OBJCOPY} --set-section-alignment .text=4096 ${OUT}.tmp ${OUT} COMMAND_ERROR_IS_FATAL ANY)
file(REMOVE ${OUT}.tmp)
